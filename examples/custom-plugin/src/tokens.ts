import { createToken } from '@beamline/core';
import type { RunNotifier } from './notifier/run-notifier.js';
import type { ChatSettings } from './webhook/chat-settings.js';
import type { WebhookClient } from './webhook/webhook-client.js';

/** The validated plugin options, for the plugin's own classes. */
export const ChatSettingsToken = createToken<ChatSettings>('chat.settings');
/** The webhook client: other plugins and applications may post through it (`runtime.resolve(WebhookClientToken)`). */
export const WebhookClientToken = createToken<WebhookClient>('chat.webhook');
/** The run notifier: `runtime.resolve(RunNotifierToken).watch(run)` posts a run's outcome and long steps. */
export const RunNotifierToken = createToken<RunNotifier>('chat.notifier');
