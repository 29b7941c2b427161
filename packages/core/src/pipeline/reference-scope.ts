import type { ExpressionReference, ReferenceResolver } from './expressions.js';
import { lookupPath } from './expressions.js';

/** The names an expression may start with. */
export const EXPRESSION_ROOTS = ['params', 'steps', 'matrix'] as const;

/** One of {@link EXPRESSION_ROOTS}. */
export type ExpressionRoot = (typeof EXPRESSION_ROOTS)[number];

/**
 * Answers `params.*` and `matrix.*` (known from plan time on) and leaves every other reference unanswered.
 * A path below a known value that leads nowhere reads as `undefined`, as optional chaining would.
 */
export function paramsAndMatrixResolver(
  params: Record<string, unknown>,
  matrix: Record<string, unknown> | undefined,
): ReferenceResolver {
  return (reference: ExpressionReference) => {
    if (reference.root === 'params') return { value: lookupPath(params, reference.path) };
    if (reference.root === 'matrix' && matrix) return { value: lookupPath(matrix, reference.path) };
    return undefined;
  };
}
