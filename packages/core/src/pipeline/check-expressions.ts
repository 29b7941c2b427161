import type { ParamDefinition } from '../contracts/pipeline.js';
import { didYouMean, listNames } from './did-you-mean.js';
import { formatExpression, listReferences, type ExpressionReference } from './expressions.js';
import type { PathSegment, PipelineIssue } from './pipeline-issue.js';
import { EXPRESSION_ROOTS, type ExpressionRoot } from './reference-scope.js';

/** What the expressions of one step may refer to. */
export interface ExpressionContext {
  stepId: string;
  params: Record<string, ParamDefinition>;
  /** The step's matrix keys; undefined when it has no matrix. */
  matrixKeys: readonly string[] | undefined;
  stepIds: readonly string[];
  /** Whether a step of that id exists (a lookup, not a search of `stepIds`: plans have 100,000 steps). */
  isStep(id: string): boolean;
  /** Whether this step waits for that one, directly or transitively: the only steps whose outputs it may read. */
  dependsOn(id: string): boolean;
}

function problemOf(
  reference: ExpressionReference,
  roots: readonly ExpressionRoot[],
  context: ExpressionContext,
): string | undefined {
  const root = reference.root;
  if (!(EXPRESSION_ROOTS as readonly string[]).includes(root)) {
    return `unknown name "${root}"${didYouMean(root, EXPRESSION_ROOTS)}; expected params.<name>, steps.<id>.outputs.<name> or matrix.<key>`;
  }
  if (!(roots as readonly string[]).includes(root))
    return `${root}.* cannot be used here; only ${roots.map((r) => `${r}.*`).join(' and ')}`;
  const [first, second, third] = reference.path;
  if (root === 'params') {
    if (typeof first !== 'string') return 'expected params.<name>';
    const names = Object.keys(context.params);
    if (!Object.hasOwn(context.params, first))
      return `unknown param "${first}"${didYouMean(first, names)}; declared params: ${listNames(names)}`;
    return undefined;
  }
  if (root === 'matrix') {
    if (typeof first !== 'string') return 'expected matrix.<key>';
    if (!context.matrixKeys) return `step "${context.stepId}" has no matrix`;
    if (!context.matrixKeys.includes(first)) {
      return `unknown matrix key "${first}"${didYouMean(first, context.matrixKeys)}; matrix keys of "${context.stepId}": ${listNames(context.matrixKeys)}`;
    }
    return undefined;
  }
  if (typeof first !== 'string' || second !== 'outputs' || typeof third !== 'string')
    return 'expected steps.<id>.outputs.<name>';
  if (first === context.stepId) return `step "${first}" cannot read its own outputs`;
  if (!context.isStep(first))
    return `unknown step "${first}"${didYouMean(first, context.stepIds)}; steps: ${listNames(context.stepIds)}`;
  if (!context.dependsOn(first)) {
    return `step "${first}" is not a dependency of "${context.stepId}"; add it to needs (directly or through another step)`;
  }
  return undefined;
}

/**
 * Checks every expression in a value tree (syntax, root, param, matrix key, step dependency) and returns one
 * issue per problem, at the path of the string that holds it.
 */
export function checkExpressions(
  value: unknown,
  path: PathSegment[],
  roots: readonly ExpressionRoot[],
  context: ExpressionContext,
): PipelineIssue[] {
  const { references, errors } = listReferences(value, path);
  const issues: PipelineIssue[] = errors.map((found) => ({ path: found.path, message: found.error.message }));
  for (const found of references) {
    const problem = problemOf(found.reference, roots, context);
    if (problem !== undefined)
      issues.push({ path: found.path, message: `${formatExpression(found.reference)}: ${problem}` });
  }
  return issues;
}
