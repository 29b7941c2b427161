import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff.js';

describe('backoffDelay', () => {
  const policy = { initialDelayMs: 100, coefficient: 2, maxDelayMs: 1000, jitter: 0 };

  it('grows exponentially up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(policy, n))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('spreads delays by the jitter fraction either way and never exceeds the cap', () => {
    const jittered = { ...policy, jitter: 0.5 };
    expect(backoffDelay(jittered, 1, () => 0)).toBe(50);
    expect(backoffDelay(jittered, 1, () => 0.5)).toBe(100);
    expect(backoffDelay(jittered, 1, () => 1)).toBe(150);
    expect(backoffDelay(jittered, 9, () => 1)).toBe(1000);
  });

  it('takes the defaults for what a policy leaves out', () => {
    expect(backoffDelay({}, 1, () => 0.5)).toBe(DEFAULT_BACKOFF.initialDelayMs);
    expect(backoffDelay({ initialDelayMs: 10 }, 3, () => 0.5)).toBe(40);
  });
});
