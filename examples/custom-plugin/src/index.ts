export { createChatPlugin, type ChatPluginOptions } from './plugin/create-chat-plugin.js';
export { ChatPostCommand, type ChatPostParams } from './commands/chat-post-command.js';
export { RunNotifier, NOTIFIER_SOURCE } from './notifier/run-notifier.js';
export { WebhookClient, type PostReceipt } from './webhook/webhook-client.js';
export type { ChatSettings, NotifyOn } from './webhook/chat-settings.js';
export { createRedactor, REDACTED, type Redactor } from './webhook/redact.js';
export { ChatError, isChatError, type ChatErrorCode } from './errors/chat-error.js';
export { ChatSettingsToken, RunNotifierToken, WebhookClientToken } from './tokens.js';
