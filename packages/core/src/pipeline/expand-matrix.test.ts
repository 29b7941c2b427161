import { describe, expect, it } from 'vitest';
import { matrixCombinations, matrixInstanceId, matrixLists } from './expand-matrix.js';

describe('matrixCombinations', () => {
  it('yields the product, first key outermost, one fresh object each', () => {
    const combinations = [
      ...matrixCombinations([
        ['a', [1, 2]],
        ['b', ['x', 'y']],
      ]),
    ];
    expect(combinations).toEqual([
      { a: 1, b: 'x' },
      { a: 1, b: 'y' },
      { a: 2, b: 'x' },
      { a: 2, b: 'y' },
    ]);
    expect(combinations[0]).not.toBe(combinations[1]);
  });

  it('produces combinations one at a time, never the whole expansion', () => {
    // 10^12 combinations: materialising them would exhaust any memory; taking three costs nothing.
    const million = { length: 1_000_000 } as unknown as readonly unknown[];
    const first = matrixCombinations([
      ['a', Array.from(million, (_, i) => i)],
      ['b', Array.from(million, (_, i) => i)],
    ]);
    expect([first.next().value, first.next().value, first.next().value]).toEqual([
      { a: 0, b: 0 },
      { a: 0, b: 1 },
      { a: 0, b: 2 },
    ]);
  });
});

describe('matrixLists and matrixInstanceId', () => {
  it('takes lists from params and names instances in key order', () => {
    const { lists, paramProblems } = matrixLists(
      'train',
      { dataset: '${{ params.ds }}', seed: [1, { deep: true }] },
      { ds: ['a'] },
    );
    expect(paramProblems).toEqual([]);
    expect(lists).toEqual([
      ['dataset', ['a']],
      ['seed', [1, { deep: true }]],
    ]);
    expect(matrixInstanceId('train', { dataset: 'a', seed: { deep: true } })).toBe(
      'train[dataset=a,seed={"deep":true}]',
    );
  });

  it('reports a param that is not a non-empty list', () => {
    const { paramProblems } = matrixLists('train', { dataset: '${{ params.ds }}' }, { ds: [] });
    expect(paramProblems).toEqual([
      'matrix "dataset" of step "train" takes its values from params.ds, which is an empty list; expected a non-empty list',
    ]);
  });
});
