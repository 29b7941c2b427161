import {
  formatReference,
  parseTemplate,
  resolveExpressions,
  type ExpressionReference,
} from './expressions.js';
import { describeValue, type PipelineIssue } from './pipeline-issue.js';
import { paramsAndMatrixResolver } from './reference-scope.js';

/** One instance of a matrix step. */
export interface MatrixInstance {
  id: string;
  matrix: Record<string, unknown>;
}

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
  return `${baseId}[${Object.entries(matrix)
    .map(([key, value]) => `${key}=${formatMatrixValue(value)}`)
    .join(',')}]`;
}

/**
 * Expands a (validated) matrix into its instances: the product of the value lists, first key outermost.
 * Lists that come from params are checked here, as their values are only known now: `paramProblems` are
 * faults of the run's params, `issues` (values giving the same instance id twice) faults of the pipeline.
 */
export function expandMatrix(
  stepId: string,
  matrix: Record<string, unknown>,
  params: Record<string, unknown>,
): { instances: MatrixInstance[]; paramProblems: string[]; issues: PipelineIssue[] } {
  const resolver = paramsAndMatrixResolver(params, undefined);
  const paramProblems: string[] = [];
  const issues: PipelineIssue[] = [];
  let combinations: Record<string, unknown>[] = [{}];
  for (const [key, written] of Object.entries(matrix)) {
    const reference = matrixParamReference(written);
    const values = resolveExpressions(written, resolver, 'final');
    if (!Array.isArray(values) || values.length === 0) {
      const source = reference ? formatReference(reference) : 'its list';
      paramProblems.push(
        `matrix "${key}" of step "${stepId}" takes its values from ${source}, which is ${describeValue(values)}; expected a non-empty list`,
      );
      continue;
    }
    combinations = combinations.flatMap((combination) =>
      values.map((value: unknown) => ({ ...combination, [key]: value })),
    );
  }
  const instances = combinations.map((combination) => ({
    id: matrixInstanceId(stepId, combination),
    matrix: combination,
  }));
  const ids = new Set<string>();
  for (const instance of instances) {
    if (ids.has(instance.id))
      issues.push({
        path: ['steps', stepId, 'matrix'],
        message: `two matrix combinations give the same instance id ${instance.id}`,
      });
    ids.add(instance.id);
  }
  return { instances, paramProblems, issues };
}
