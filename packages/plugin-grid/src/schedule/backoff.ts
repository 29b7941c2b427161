import { backoffDelay, type BackoffPolicy } from '@beamline/core';

/**
 * Grid's retry timing, on core's one backoff rule: storage usually recovers quickly, so the first retry
 * comes after half a second, at most 30 s, spread by ±50 % so files failing together do not return
 * together.
 */
const GRID_BACKOFF: BackoffPolicy = Object.freeze({
  initialDelayMs: 500,
  coefficient: 2,
  maxDelayMs: 30_000,
  jitter: 0.5,
});

/**
 * Delay before retry number `retry` (from 1): core's `backoffDelay` with {@link GRID_BACKOFF} under the
 * caller's policy, except that a server's `Retry-After` wins when it is given (capped at `maxDelayMs`, so
 * a hostile value cannot park a job).
 */
export function retryDelay(
  retry: number,
  retryAfterMs: number | undefined,
  policy: Partial<BackoffPolicy> = {},
  random: () => number = Math.random,
): number {
  const p = { ...GRID_BACKOFF, ...policy };
  if (retryAfterMs !== undefined) return Math.min(Math.max(0, retryAfterMs), p.maxDelayMs);
  return backoffDelay(p, retry, random);
}

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds from now. */
export function parseRetryAfter(value: string | undefined, nowMs = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - nowMs);
}
