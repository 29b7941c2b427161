import { describe, expect, it } from 'vitest';
import { plannedStepCount } from './large-plan-memory.js';

describe('plannedStepCount', () => {
  it('counts matrix instances, with lists from the run params or the declared defaults', () => {
    const definition = {
      name: 'p',
      params: { items: { type: 'array' as const, default: ['a', 'b'] }, seeds: { type: 'array' as const } },
      steps: {
        prepare: { uses: 'exec' },
        train: { uses: 'exec', matrix: { item: '${{ params.items }}', seed: [1, 2, 3] } },
        evaluate: { uses: 'exec', matrix: { seed: '${{params.seeds}}' } },
      },
    };
    // 1 + 2×3 + (seeds unknown: 1)
    expect(plannedStepCount(definition, {})).toBe(8);
    const many = Array.from({ length: 100_000 }, (_, i) => i);
    // A three-step file that plans 100,000 instances is a large plan.
    expect(plannedStepCount(definition, { items: many, seeds: [1, 2] })).toBe(1 + 300_000 + 2);
  });

  it('reads a param named like an Object.prototype member from the run params or its default', () => {
    const definition = {
      name: 'p',
      params: { constructor: { type: 'array' as const, default: ['a', 'b', 'c'] } },
      steps: {
        train: { uses: 'exec', matrix: { item: '${{ params.constructor }}' } },
        test: { uses: 'exec', matrix: { item: '${{ params.toString }}' } },
      },
    };
    // Not Object.prototype.constructor (1 value): the default's 3; toString is no param (1).
    expect(plannedStepCount(definition, {})).toBe(3 + 1);
    expect(plannedStepCount(definition, { constructor: [1, 2] })).toBe(2 + 1);
  });
});
