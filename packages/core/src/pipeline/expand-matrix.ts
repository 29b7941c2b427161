import {
  formatReference,
  parseTemplate,
  resolveExpressions,
  type ExpressionReference,
} from './expressions.js';
import { describeValue } from './pipeline-issue.js';
import { setOwn } from '../util/own-keys.js';
import { paramsAndMatrixResolver } from './reference-scope.js';

/** The value list of each key of a matrix, in the matrix's key order. */
export type MatrixLists = ReadonlyArray<readonly [key: string, values: readonly unknown[]]>;

/** The `${{ params.x }}` reference of a matrix value written as a single expression; undefined otherwise. */
export function matrixParamReference(value: unknown): ExpressionReference | undefined {
  if (typeof value !== 'string') return undefined;
  const parts = parseTemplate(value);
  const [only] = parts;
  return parts.length === 1 && only?.kind === 'expression' && only.reference.root === 'params'
    ? only.reference
    : undefined;
}

function formatMatrixValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** `train[dataset=a,seed=1]`: keys in the matrix's key order. */
export function matrixInstanceId(baseId: string, matrix: Record<string, unknown>): string {
  // Joined, not concatenated with `+=`: see resolveExpressions (a plan keeps its ids).
  const pairs: string[] = [];
  for (const key in matrix) pairs.push(`${key}=${formatMatrixValue(matrix[key])}`);
  return [baseId, '[', pairs.join(','), ']'].join('');
}

/**
 * The value lists of a (validated) matrix, with lists that come from params resolved. Those are checked
 * here, as their values are only known now: `paramProblems` are faults of the run's params.
 */
export function matrixLists(
  stepId: string,
  matrix: Record<string, unknown>,
  params: Record<string, unknown>,
): { lists: MatrixLists; paramProblems: string[] } {
  const resolver = paramsAndMatrixResolver(params, undefined);
  const lists: [string, readonly unknown[]][] = [];
  const paramProblems: string[] = [];
  for (const [key, written] of Object.entries(matrix)) {
    const values = resolveExpressions(written, resolver, 'final');
    if (Array.isArray(values) && values.length > 0) {
      lists.push([key, values]);
      continue;
    }
    const reference = matrixParamReference(written);
    const source = reference ? formatReference(reference) : 'its list';
    paramProblems.push(
      `matrix "${key}" of step "${stepId}" takes its values from ${source}, which is ${describeValue(values)}; expected a non-empty list`,
    );
  }
  return { lists, paramProblems };
}

/**
 * The combinations of a matrix, one at a time: the product of the value lists, first key outermost. Each
 * is a fresh object (it becomes the instance's `matrix`); nothing else of the expansion is kept, so a
 * 100,000-value matrix never exists as a list of intermediate combinations.
 */
export function* matrixCombinations(lists: MatrixLists): Generator<Record<string, unknown>> {
  if (lists.length === 0) return;
  // An odometer over the lists: the last key turns fastest.
  const positions = lists.map(() => 0);
  for (;;) {
    const combination: Record<string, unknown> = {};
    lists.forEach(([key, values], index) => setOwn(combination, key, values[positions[index]!]));
    yield combination;
    let index = lists.length - 1;
    for (; index >= 0; index--) {
      const next = positions[index]! + 1;
      if (next < lists[index]![1].length) {
        positions[index] = next;
        break;
      }
      positions[index] = 0;
    }
    if (index < 0) return;
  }
}
