import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay, escapeText, inject, injectable, isRetryable } from '@beamline/core';
import { ChatError, isChatError } from '../errors/chat-error.js';
import { ChatSettingsToken } from '../tokens.js';
import type { ChatSettings } from './chat-settings.js';
import { truncate } from '../notifier/chat-text.js';

/** What a successful post reports. */
export interface PostReceipt {
  /** The HTTP status of the accepted post. */
  readonly status: number;
  /** Posts it took (1 when the first one was accepted). */
  readonly attempts: number;
}

/** Most of a refusal's body quoted in an error. */
const EXCERPT_BYTES = 512;

/**
 * Posts messages to a Mattermost/Slack-compatible incoming webhook (`{ text, username, channel,
 * icon_url }` as JSON). Retries what may pass (HTTP 5xx, 408, 429 after its `Retry-After`, network
 * errors, timeouts) with core's backoff rule, never follows a redirect (the payload would go to another
 * host), and never puts the webhook URL (which holds its token) in an error: only its host.
 */
@injectable()
export class WebhookClient {
  constructor(@inject(ChatSettingsToken) private readonly settings: ChatSettings) {}

  /** How errors and logs name the webhook: its host only. */
  get target(): string {
    return `the chat webhook at ${this.settings.url.host}`;
  }

  /**
   * Posts `text` (redacted first). Resolves once the webhook accepted it; rejects with
   * `CHAT_WEBHOOK_REJECTED` at once for a refusal, with `CHAT_DELIVERY_FAILED` once every attempt
   * failed, and with the signal's reason when `signal` aborts.
   */
  async post(text: string, signal?: AbortSignal): Promise<PostReceipt> {
    const { retry, redact } = this.settings;
    const body = JSON.stringify(this.payload(redact(text)));
    let last: unknown;
    for (let attempt = 1; attempt <= retry.attempts; attempt++) {
      signal?.throwIfAborted();
      let retryAfterMs: number | undefined;
      try {
        const status = await this.postOnce(body, signal);
        return { status, attempts: attempt };
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (!isRetryable(error)) throw error;
        last = error;
        if (isChatError(error) && typeof error.details.retryAfterMs === 'number') {
          retryAfterMs = error.details.retryAfterMs;
        }
      }
      if (attempt < retry.attempts) {
        const delay = Math.min(retry.maxDelayMs, retryAfterMs ?? backoffDelay(retry, attempt));
        await sleep(delay, undefined, signal ? { signal } : {}).catch(() => signal?.throwIfAborted());
      }
    }
    const reason = last instanceof Error ? last.message : String(last);
    throw new ChatError(
      'CHAT_DELIVERY_FAILED',
      `could not post to ${this.target} after ${retry.attempts} attempt(s): ${reason}`,
      { cause: last, details: { host: this.settings.url.host, attempts: retry.attempts } },
    );
  }

  private payload(text: string): Record<string, string> {
    const { username, channel, iconUrl } = this.settings;
    return {
      text,
      ...(username === undefined ? {} : { username }),
      ...(channel === undefined ? {} : { channel }),
      ...(iconUrl === undefined ? {} : { icon_url: iconUrl }),
    };
  }

  /** One POST: the HTTP status when accepted, else a coded error saying whether it may pass. */
  private async postOnce(body: string, signal: AbortSignal | undefined): Promise<number> {
    const timeout = AbortSignal.timeout(this.settings.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let response: Response;
    try {
      response = await fetch(this.settings.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/plain' },
        body,
        redirect: 'manual',
        signal: combined,
      });
      if (response.ok) {
        await response.body?.cancel().catch(() => undefined);
        return response.status;
      }
      const excerpt = await readExcerpt(response);
      throw this.refusal(response, excerpt);
    } catch (error) {
      if (timeout.aborted && !signal?.aborted) {
        throw new ChatError(
          'CHAT_WEBHOOK_TIMEOUT',
          `${this.target} did not answer within ${this.settings.timeoutMs} ms`,
          { details: { host: this.settings.url.host, timeoutMs: this.settings.timeoutMs } },
        );
      }
      if (isChatError(error) || signal?.aborted) throw error;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason =
        cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
      // A library's message may quote the URL (and with it the webhook's token).
      const said = escapeText(truncate(this.settings.redact(reason), 200));
      throw new ChatError('CHAT_WEBHOOK_UNAVAILABLE', `${this.target} could not be reached: ${said}`, {
        cause: error,
        retryable: isRetryable(error),
        details: { host: this.settings.url.host },
      });
    }
  }

  private refusal(response: Response, excerpt: string): ChatError {
    const { status } = response;
    const said = excerpt === '' ? '' : `: ${escapeText(truncate(this.settings.redact(excerpt), 200))}`;
    const details = { host: this.settings.url.host, status };
    if (status >= 300 && status < 400) {
      return new ChatError(
        'CHAT_WEBHOOK_REJECTED',
        `${this.target} answered HTTP ${status} (a redirect, not followed: use the webhook's final URL)`,
        { details },
      );
    }
    if (status === 429 || status === 408 || status >= 500) {
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
      return new ChatError('CHAT_WEBHOOK_UNAVAILABLE', `${this.target} answered HTTP ${status}${said}`, {
        details: retryAfterMs === undefined ? details : { ...details, retryAfterMs },
      });
    }
    return new ChatError(
      'CHAT_WEBHOOK_REJECTED',
      `${this.target} refused the message: HTTP ${status}${said}`,
      {
        details,
      },
    );
  }
}

/** The first bytes of a response body as text; the rest is never read (a hostile server may send forever). */
async function readExcerpt(response: Response): Promise<string> {
  if (!response.body) return '';
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < EXCERPT_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString('utf8').trim();
}

/** Milliseconds of a `Retry-After` header (seconds or an HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
