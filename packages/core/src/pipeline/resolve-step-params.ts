import type { StepOutputs } from '../contracts/command.js';
import type { Plan, PlannedStep } from '../contracts/pipeline.js';
import { CoreError } from '../errors/core-error.js';
import { canonicalJson } from '../util/canonical-json.js';
import { formatExpression, lookupPath, resolveExpressions, type ExpressionReference } from './expressions.js';
import { listNames } from './did-you-mean.js';
import { paramsAndMatrixResolver } from './reference-scope.js';

/**
 * The instances of a plan's matrix steps by base id, and by their matrix values. A plain step needs no
 * entry: its id is its base id, so a 100,000-step chain indexes nothing.
 */
interface PlanIndex {
  byBaseId: Map<string, PlannedStep[]>;
  byValues: Map<string, Map<string, PlannedStep>>;
}

// Built on the first `steps.*` reference of a run and kept with its plan: looking instances up by scanning
// the plan for every step that starts would make 100,000 steps quadratic.
const indexes = new WeakMap<Plan, PlanIndex>();

function indexOf(plan: Plan): PlanIndex {
  let index = indexes.get(plan);
  if (index) return index;
  const byBaseId = new Map<string, PlannedStep[]>();
  for (const step of plan.steps) {
    if (step.matrix === undefined && step.id === step.baseId) continue;
    const found = byBaseId.get(step.baseId);
    if (found) found.push(step);
    else byBaseId.set(step.baseId, [step]);
  }
  index = { byBaseId, byValues: new Map() };
  indexes.set(plan, index);
  return index;
}

function valuesKey(matrix: Record<string, unknown> | undefined, keys: readonly string[]): string {
  return keys.map((key) => canonicalJson(matrix?.[key])).join('\0');
}

/** The instance of a matrix step with the given values of its keys. */
function instanceWithValues(
  index: PlanIndex,
  baseId: string,
  keys: readonly string[],
  matrix: Record<string, unknown>,
): PlannedStep | undefined {
  let byValues = index.byValues.get(baseId);
  if (!byValues) {
    byValues = new Map();
    for (const instance of index.byBaseId.get(baseId) ?? []) {
      const key = valuesKey(instance.matrix, keys);
      if (!byValues.has(key)) byValues.set(key, instance);
    }
    index.byValues.set(baseId, byValues);
  }
  return byValues.get(valuesKey(matrix, keys));
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

  const outputOf = (id: string, reference: ExpressionReference, name: string): unknown => {
    const outputs = outputsOf(id);
    if (!outputs || !Object.hasOwn(outputs, name)) {
      // Only now, on the way to an error, is the plan searched.
      if (!outputs && !plan.steps.some((candidate) => candidate.id === id))
        throw expressionError(step, reference, `the plan has no step "${id}"`);
      const available = outputs
        ? `available outputs: ${listNames(Object.keys(outputs))}`
        : 'it has no outputs';
      throw expressionError(step, reference, `step "${id}" has no output "${name}"; ${available}`);
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
      const index = indexOf(plan);
      const instances = index.byBaseId.get(baseId);
      const first = instances?.[0];
      if (!instances || !first?.matrix) return { value: outputOf(first?.id ?? baseId, reference, name) };
      const keys = Object.keys(first.matrix);
      const own = step.matrix;
      if (own && keys.every((key) => Object.hasOwn(own, key))) {
        const match = instanceWithValues(index, baseId, keys, own);
        if (!match)
          throw expressionError(step, reference, `no instance of "${baseId}" has this step's matrix values`);
        return { value: outputOf(match.id, reference, name) };
      }
      return { value: instances.map((instance) => outputOf(instance.id, reference, name)) };
    },
    'final',
  );
  return resolved as Record<string, unknown>;
}
