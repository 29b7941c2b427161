import { backoffDelay, isRetryable, type BackoffPolicy } from '@beamline/core';
import { setTimeout as sleep } from 'node:timers/promises';

/** How calls to the web interface are retried. */
export interface RetryOptions {
  readonly signal?: AbortSignal;
  /** Attempts in all (default 8: about 2 minutes with the default backoff). */
  readonly attempts?: number;
  /** Backoff between attempts (default 1 s doubling to 30 s, ±20 %). */
  readonly backoff?: Partial<BackoffPolicy>;
  /** Told before each wait. */
  readonly onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
}

const DEFAULT_BACKOFF: Partial<BackoffPolicy> = { initialDelayMs: 1000, maxDelayMs: 30_000 };

/**
 * Runs `fn` until it succeeds, retrying errors core's `isRetryable` calls transient (a server that is
 * down or answers 5xx) with backoff and jitter; an error that a retry cannot change (401, 422, an
 * unreadable file) or the last attempt's error is thrown. An abort stops the wait.
 */
export async function withRetries<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 8;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (options.signal?.aborted || attempt >= attempts || !isRetryable(error)) throw error;
      const delay = backoffDelay({ ...DEFAULT_BACKOFF, ...options.backoff }, attempt);
      options.onRetry?.(attempt, delay, error);
      await sleep(delay, undefined, options.signal ? { signal: options.signal } : undefined);
    }
  }
}
