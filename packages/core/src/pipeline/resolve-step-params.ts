import type { StepOutputs } from '../contracts/command.js';
import type { Plan, PlannedStep } from '../contracts/pipeline.js';
import { CoreError } from '../errors/core-error.js';
import { formatExpression, lookupPath, resolveExpressions, type ExpressionReference } from './expressions.js';
import { listNames } from './did-you-mean.js';
import { paramsAndMatrixResolver } from './reference-scope.js';

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

function expressionError(step: PlannedStep, reference: ExpressionReference, problem: string): CoreError {
  return new CoreError(
    'CORE_EXPRESSION_INVALID',
    `step "${step.id}": ${formatExpression(reference)}: ${problem}`,
    {
      details: { stepId: step.id, expression: formatExpression(reference) },
    },
  );
}

/**
 * The parameters of a planned step as its command receives them: every `${{ … }}` resolved.
 * `steps.<id>.outputs.<name>` reads the output of that step; for a matrix step it reads the instance with
 * the same matrix values when this step is a matrix instance sharing all of that step's keys, and otherwise
 * the list of the output of every instance, in matrix order.
 *
 * Throws `CORE_EXPRESSION_INVALID` naming the step and output, and the outputs there are, when one is missing.
 */
export function resolveStepParams(
  step: PlannedStep,
  outputsOf: (stepId: string) => StepOutputs | undefined,
  plan: Plan,
): Record<string, unknown> {
  const known = paramsAndMatrixResolver(plan.params, step.matrix);

  const outputOf = (instance: PlannedStep, reference: ExpressionReference, name: string): unknown => {
    const outputs = outputsOf(instance.id);
    if (!outputs || !Object.hasOwn(outputs, name)) {
      const available = outputs
        ? `available outputs: ${listNames(Object.keys(outputs))}`
        : 'it has no outputs';
      throw expressionError(step, reference, `step "${instance.id}" has no output "${name}"; ${available}`);
    }
    return lookupPath(outputs[name], reference.path.slice(3));
  };

  const resolved = resolveExpressions(
    step.with,
    (reference) => {
      const answer = known(reference);
      if (answer !== undefined) return answer;
      const [baseId, outputs, name] = reference.path;
      if (
        reference.root !== 'steps' ||
        typeof baseId !== 'string' ||
        outputs !== 'outputs' ||
        typeof name !== 'string'
      ) {
        throw expressionError(
          step,
          reference,
          'expected params.<name>, matrix.<key> or steps.<id>.outputs.<name>',
        );
      }
      const instances = plan.steps.filter((candidate) => candidate.baseId === baseId);
      const [first] = instances;
      if (!first) throw expressionError(step, reference, `the plan has no step "${baseId}"`);
      if (!first.matrix) return { value: outputOf(first, reference, name) };
      const keys = Object.keys(first.matrix);
      const own = step.matrix;
      if (own && keys.every((key) => Object.hasOwn(own, key))) {
        const match = instances.find((instance) =>
          keys.every((key) => sameValue(instance.matrix?.[key], own[key])),
        );
        if (!match)
          throw expressionError(step, reference, `no instance of "${baseId}" has this step's matrix values`);
        return { value: outputOf(match, reference, name) };
      }
      return { value: instances.map((instance) => outputOf(instance, reference, name)) };
    },
    'final',
  );
  return resolved as Record<string, unknown>;
}
