import type { RetryPolicy } from '../contracts/pipeline.js';

/**
 * Delay before retry number `retry` (1 = the first retry): exponential from `initialDelayMs`, capped at
 * `maxDelayMs`, then spread by ±`jitter` so many failed steps do not retry in lockstep.
 */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const exponential = policy.initialDelayMs * policy.coefficient ** Math.max(0, retry - 1);
  const capped = Math.min(policy.maxDelayMs, exponential);
  const spread = capped * policy.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(Math.min(policy.maxDelayMs, capped + spread)));
}
