import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_POLICY } from '../pipeline/plan-pipeline.js';
import { backoffDelay } from './backoff.js';

describe('backoffDelay', () => {
  const policy = { ...DEFAULT_RETRY_POLICY, attempts: 10, initialDelayMs: 100, maxDelayMs: 1000, jitter: 0 };

  it('grows exponentially up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(policy, n))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('spreads delays by the jitter fraction and never exceeds the cap', () => {
    const jittered = { ...policy, jitter: 0.5 };
    expect(backoffDelay(jittered, 1, () => 0)).toBe(50);
    expect(backoffDelay(jittered, 1, () => 1)).toBe(150);
    expect(backoffDelay(jittered, 9, () => 1)).toBe(1000);
  });
});
