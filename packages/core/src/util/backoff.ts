/** The timing part of a retry policy (`RetryPolicy` in pipelines; grid and docker use it too). */
export interface BackoffPolicy {
  /** Delay before the first retry (ms). */
  readonly initialDelayMs: number;
  /** Growth factor per retry (2 doubles the delay). */
  readonly coefficient: number;
  /** Largest delay (ms), jitter included. */
  readonly maxDelayMs: number;
  /** Fraction of the delay randomised either way (0.2 = ±20 %). */
  readonly jitter: number;
}

/** The pipeline default: 1 s, doubling, at most 60 s, ±20 %. */
export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({
  initialDelayMs: 1000,
  coefficient: 2,
  maxDelayMs: 60_000,
  jitter: 0.2,
});

/**
 * Delay before retry number `retry` (1 = the first retry), the one backoff rule of Beamline: exponential
 * from `initialDelayMs` by `coefficient`, capped at `maxDelayMs`, then spread uniformly by ±`jitter`
 * of itself (so many failures do not retry in lock-step) and capped again. Missing policy fields take
 * `DEFAULT_BACKOFF`'s values. A server's `Retry-After` is a caller's override, not part of this rule.
 */
export function backoffDelay(
  policy: Partial<BackoffPolicy>,
  retry: number,
  random: () => number = Math.random,
): number {
  const { initialDelayMs, coefficient, maxDelayMs, jitter } = { ...DEFAULT_BACKOFF, ...definedOnly(policy) };
  const exponential = initialDelayMs * coefficient ** Math.max(0, retry - 1);
  const capped = Math.min(maxDelayMs, exponential);
  const spread = capped * jitter * (2 * random() - 1);
  return Math.max(0, Math.round(Math.min(maxDelayMs, capped + spread)));
}

function definedOnly(policy: Partial<BackoffPolicy>): Partial<BackoffPolicy> {
  return Object.fromEntries(Object.entries(policy).filter(([, value]) => value !== undefined));
}
