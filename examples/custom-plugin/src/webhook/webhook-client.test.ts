import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF } from '@beamline/core';
import {
  hangUp,
  silence,
  startChatReceiver,
  status,
  type ChatReceiver,
} from '../../test/support/chat-receiver.js';
import { isChatError } from '../errors/chat-error.js';
import type { ChatSettings } from './chat-settings.js';
import { createRedactor } from './redact.js';
import { parseRetryAfter, WebhookClient } from './webhook-client.js';

let receiver: ChatReceiver;
beforeEach(async () => {
  receiver = await startChatReceiver();
});
afterEach(() => receiver.close());

function client(overrides: Partial<ChatSettings> = {}): WebhookClient {
  const url = new URL(receiver.url);
  return new WebhookClient({
    url,
    notifyOn: { success: true, failure: true, cancelled: true, longStep: true },
    longStepAfterMs: 60_000,
    timeoutMs: 5_000,
    retry: { ...DEFAULT_BACKOFF, attempts: 3, initialDelayMs: 20, maxDelayMs: 2_000 },
    redact: createRedactor([url.href, url.pathname, 'pw-123456']),
    ...overrides,
  });
}

async function failure(promise: Promise<unknown>): Promise<Error & { code?: string; retryable?: boolean }> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error as Error,
  );
}

describe('WebhookClient', () => {
  it('posts Mattermost/Slack JSON with the optional fields, redacted', async () => {
    const receipt = await client({
      username: 'beamline',
      channel: 'alerts',
      iconUrl: 'https://x.example/i.png',
    }).post('done with pw-123456');
    expect(receipt).toEqual({ status: 200, attempts: 1 });
    const [post] = receiver.posts;
    expect(post?.method).toBe('POST');
    expect(post?.headers['content-type']).toBe('application/json');
    expect(post?.json).toEqual({
      text: 'done with ***',
      username: 'beamline',
      channel: 'alerts',
      icon_url: 'https://x.example/i.png',
    });
  });

  it('retries server errors, dropped connections and timeouts, then succeeds', async () => {
    receiver.script(status(502, 'bad gateway'), hangUp);
    expect(await client().post('hi')).toEqual({ status: 200, attempts: 3 });
    expect(receiver.posts.map((p) => p.json?.text)).toEqual(['hi', 'hi', 'hi']);

    receiver.script(silence);
    expect(await client({ timeoutMs: 300 }).post('again')).toEqual({ status: 200, attempts: 2 });
  });

  it("waits a rate limit's Retry-After before the next post", async () => {
    receiver.script(status(429, 'slow down', { 'retry-after': '1' }));
    await client().post('hi');
    const [first, second] = receiver.posts;
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(900);
  });

  it('does not retry a refusal; the error names the host and status, never the URL or its token', async () => {
    receiver.script(status(400, `invalid_payload for ${receiver.url} with pw-123456`));
    const error = await failure(client().post('hi'));
    expect(isChatError(error, 'CHAT_WEBHOOK_REJECTED')).toBe(true);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('HTTP 400: invalid_payload');
    expect(error.message).toContain(new URL(receiver.url).host);
    expect(error.message).not.toContain('hook-0123456789abcdef');
    expect(error.message).not.toContain('pw-123456');
    expect(receiver.posts).toHaveLength(1);
  });

  it('never follows a redirect', async () => {
    receiver.script(status(302, '', { location: 'http://127.0.0.1:9/elsewhere' }));
    const error = await failure(client().post('hi'));
    expect(isChatError(error, 'CHAT_WEBHOOK_REJECTED')).toBe(true);
    expect(error.message).toContain('redirect, not followed');
    expect(receiver.posts).toHaveLength(1);
  });

  it('gives up after its attempts with CHAT_DELIVERY_FAILED, not retryable again', async () => {
    receiver.script(status(503), status(503), status(503));
    const error = await failure(client().post('hi'));
    expect(isChatError(error, 'CHAT_DELIVERY_FAILED')).toBe(true);
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/after 3 attempt\(s\): .*HTTP 503/);
    expect(error.message).not.toContain('hook-0123456789abcdef');
  });

  it('names an unreachable webhook by host and retries it', async () => {
    const port = new URL(receiver.url).port;
    await receiver.close();
    const error = await failure(
      client({ url: new URL(`http://127.0.0.1:${port}/hooks/secret-path-xyz`) }).post('hi'),
    );
    expect(isChatError(error, 'CHAT_DELIVERY_FAILED')).toBe(true);
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.message).not.toContain('secret-path-xyz');
  });

  it('stops at once when its signal aborts, during a request or a backoff', async () => {
    receiver.script(silence);
    const controller = new AbortController();
    const pending = failure(client().post('hi', controller.signal));
    await receiver.waitFor(1);
    controller.abort(new Error('step cancelled'));
    expect((await pending).message).toBe('step cancelled');

    receiver.script(status(500));
    const slow = new AbortController();
    const started = Date.now();
    const backingOff = failure(
      client({ retry: { ...DEFAULT_BACKOFF, attempts: 3, initialDelayMs: 60_000, maxDelayMs: 60_000 } }).post(
        'x',
        slow.signal,
      ),
    );
    await receiver.waitFor(2);
    setTimeout(() => slow.abort(new Error('cancelled in backoff')), 50);
    expect((await backingOff).message).toBe('cancelled in backoff');
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('reads only the start of an endless refusal body', async () => {
    receiver.script((res) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      const chunk = 'x'.repeat(64 * 1024);
      const pump = (): void => {
        while (res.write(chunk));
        res.once('drain', pump);
      };
      pump();
    });
    const error = await failure(client().post('hi'));
    expect(isChatError(error, 'CHAT_WEBHOOK_REJECTED')).toBe(true);
    expect(error.message.length).toBeLessThan(400);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});
