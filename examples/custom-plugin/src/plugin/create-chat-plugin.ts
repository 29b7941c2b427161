import { DEFAULT_BACKOFF, parseDuration, quoteText, type BackoffPolicy, type Plugin } from '@beamline/core';
import { ChatPostCommand } from '../commands/chat-post-command.js';
import { ChatError } from '../errors/chat-error.js';
import { RunNotifier } from '../notifier/run-notifier.js';
import { ChatSettingsToken, RunNotifierToken, WebhookClientToken } from '../tokens.js';
import type { ChatSettings, NotifyOn } from '../webhook/chat-settings.js';
import { createRedactor, MIN_SECRET_LENGTH } from '../webhook/redact.js';
import { WebhookClient } from '../webhook/webhook-client.js';

/** Options of {@link createChatPlugin}. */
export interface ChatPluginOptions {
  /**
   * The incoming-webhook URL (Mattermost `https://chat.example/hooks/…`, Slack
   * `https://hooks.slack.com/services/…`). A secret: it is redacted from every message and never printed.
   */
  webhookUrl: string | URL;
  /** Display name of the poster. */
  username?: string;
  /** Channel override, where the webhook allows one. */
  channel?: string;
  /** Avatar URL of the poster. */
  iconUrl?: string;
  /** Which outcomes are posted; each defaults to true. */
  notifyOn?: Partial<NotifyOn>;
  /** A step still running this long after its attempt started is posted once: `'30m'` (default), `90_000`. */
  longStepAfter?: string | number;
  /** Limit of one HTTP request: `'10s'` (default). */
  timeout?: string | number;
  /** Posts tried in all (default 4) and the backoff between them (default 1 s, doubling, at most 30 s, ±20 %). */
  retry?: { attempts?: number } & Partial<BackoffPolicy>;
  /**
   * Values never to post (tokens and passwords the pipeline's steps use, which their errors might print),
   * at least 6 characters each. URL credentials, bearer tokens and `*_TOKEN=`/`*PASSWORD=` assignments
   * are redacted without being listed.
   */
  secrets?: readonly string[];
}

/**
 * Creates the chat plugin (name `chat`): the `chat.post` command, and under its tokens the webhook client
 * ({@link WebhookClientToken}) and the run notifier ({@link RunNotifierToken}), which an application
 * points at each run it starts: `runtime.resolve(RunNotifierToken).watch(run)`. Bad options are
 * `CHAT_CONFIG_INVALID`, thrown here.
 */
export function createChatPlugin(options: ChatPluginOptions): Plugin {
  const settings = chatSettings(options);
  let notifier: RunNotifier | undefined;
  return {
    name: 'chat',
    register(registry) {
      registry.provide(ChatSettingsToken, settings);
      registry.provideClass(WebhookClientToken, WebhookClient);
      registry.provideClass(RunNotifierToken, RunNotifier);
      registry.addCommand(ChatPostCommand);
    },
    start(context) {
      notifier = context.resolve(RunNotifierToken);
      return Promise.resolve();
    },
    async stop() {
      await notifier?.close();
    },
  };
}

function invalid(option: string, expected: string, got: string): ChatError {
  return new ChatError(
    'CHAT_CONFIG_INVALID',
    `createChatPlugin: ${option}: expected ${expected}, got ${got}`,
    {
      details: { option },
    },
  );
}

function describe(value: unknown): string {
  return typeof value === 'string' ? quoteText(value) : value === null ? 'null' : typeof value;
}

function webhookUrl(value: unknown): URL {
  let url: URL;
  try {
    url = new URL(value instanceof URL ? value.href : String(value));
  } catch {
    // The value may be a mistyped secret: say what it is, not what it holds.
    throw invalid(
      'webhookUrl',
      'an http(s) URL',
      typeof value === 'string' ? 'text that is not a URL' : describe(value),
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw invalid('webhookUrl', 'an http(s) URL', `a ${url.protocol} URL`);
  }
  if (url.username !== '' || url.password !== '') {
    // fetch refuses them, and its error would quote the whole URL.
    throw invalid(
      'webhookUrl',
      'a URL without user:password@ (the webhook path holds its token)',
      'credentials',
    );
  }
  return url;
}

function duration(option: string, value: string | number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined)
    throw invalid(option, 'a duration like "90s", "30m" or milliseconds > 0', describe(value));
  return ms;
}

function optionalText(option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '')
    throw invalid(option, 'a non-empty string', describe(value));
  return value;
}

/** The options validated and completed with defaults. */
function chatSettings(options: ChatPluginOptions): ChatSettings {
  const url = webhookUrl(options.webhookUrl);
  const notifyOn: NotifyOn = {
    success: true,
    failure: true,
    cancelled: true,
    longStep: true,
    ...options.notifyOn,
  };
  for (const [key, value] of Object.entries(notifyOn)) {
    if (typeof value !== 'boolean') throw invalid(`notifyOn.${key}`, 'true or false', describe(value));
  }
  const { attempts = 4, ...backoff } = options.retry ?? {};
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 20) {
    throw invalid('retry.attempts', 'a whole number from 1 to 20', describe(attempts));
  }
  const policy: BackoffPolicy = { ...DEFAULT_BACKOFF, maxDelayMs: 30_000, ...definedOnly(backoff) };
  for (const [key, value] of Object.entries(policy)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw invalid(`retry.${key}`, 'a number ≥ 0', describe(value));
    }
  }
  const secrets = options.secrets ?? [];
  secrets.forEach((secret, index) => {
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) {
      throw invalid(
        `secrets[${index}]`,
        `a string of at least ${MIN_SECRET_LENGTH} characters`,
        'a shorter value',
      );
    }
  });
  const username = optionalText('username', options.username);
  const channel = optionalText('channel', options.channel);
  const iconUrl = optionalText('iconUrl', options.iconUrl);
  return {
    url,
    ...(username === undefined ? {} : { username }),
    ...(channel === undefined ? {} : { channel }),
    ...(iconUrl === undefined ? {} : { iconUrl }),
    notifyOn,
    longStepAfterMs: duration('longStepAfter', options.longStepAfter, 30 * 60_000),
    timeoutMs: duration('timeout', options.timeout, 10_000),
    retry: { attempts, ...policy },
    redact: createRedactor([url.href, url.pathname + url.search, ...secrets]),
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
