/** Retry timing of one file. */
export interface BackoffOptions {
  /** First delay (ms). Default 500. */
  readonly initialMs?: number;
  /** Largest delay (ms). Default 30 000. */
  readonly maxMs?: number;
}

/**
 * Delay before retry number `attempt` (from 1): exponential with full jitter, so many files failing
 * together do not come back in lock-step; a server's `Retry-After` wins when it is given (capped at
 * `maxMs`, so a hostile value cannot park a job).
 */
export function backoffDelay(attempt: number, retryAfterMs: number | undefined, options: BackoffOptions = {}, random = Math.random): number {
  const initial = options.initialMs ?? 500;
  const max = options.maxMs ?? 30_000;
  if (retryAfterMs !== undefined) return Math.min(Math.max(0, retryAfterMs), max);
  const ceiling = Math.min(max, initial * 2 ** (attempt - 1));
  return Math.round(initial / 2 + random() * (ceiling - initial / 2));
}

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds from now. */
export function parseRetryAfter(value: string | undefined, nowMs = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - nowMs);
}
