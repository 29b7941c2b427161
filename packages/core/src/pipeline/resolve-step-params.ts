import type { StepOutputs } from '../contracts/command.js';
import type { Plan, PlannedStep } from '../contracts/pipeline.js';
import { CoreError } from '../errors/core-error.js';
import { canonicalJson } from '../util/canonical-json.js';
import {
  forEachReference,
  formatExpression,
  lookupPath,
  resolveExpressions,
  type ExpressionReference,
} from './expressions.js';
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

/**
 * What a `steps.<baseId>.…` reference of `step` reads: the id of one step (a plain step, or the instance
 * with this step's matrix values when this step is a matrix instance sharing all of that step's keys), every
 * instance in matrix order, or undefined when no instance has this step's matrix values.
 */
function readTarget(
  step: PlannedStep,
  baseId: string,
  plan: Plan,
): string | readonly PlannedStep[] | undefined {
  const index = indexOf(plan);
  const instances = index.byBaseId.get(baseId);
  const first = instances?.[0];
  if (!instances || !first?.matrix) return first?.id ?? baseId;
  const keys = Object.keys(first.matrix);
  const own = step.matrix;
  if (own && keys.every((key) => Object.hasOwn(own, key)))
    return instanceWithValues(index, baseId, keys, own)?.id;
  return instances;
}

/** The `steps.<id>.outputs.<name>` reference a path is, as its step's base id; undefined for any other. */
function stepOutputBase(reference: ExpressionReference): string | undefined {
  const [baseId, outputs, name] = reference.path;
  return reference.root === 'steps' &&
    typeof baseId === 'string' &&
    outputs === 'outputs' &&
    typeof name === 'string'
    ? baseId
    : undefined;
}

/**
 * Calls `visit` with the id of every step whose outputs {@link resolveStepParams} reads for `step` (once per
 * reference, so possibly more than once per step). References that cannot resolve are left out: the step
 * fails on them when it starts. The engine uses it to know when no step will read an output any more.
 */
export function forEachStepRead(step: PlannedStep, plan: Plan, visit: (stepId: string) => void): void {
  forEachReference(step.with, (reference) => {
    const baseId = stepOutputBase(reference);
    if (baseId === undefined) return;
    const target = readTarget(step, baseId, plan);
    if (typeof target === 'string') visit(target);
    else if (target !== undefined) for (const instance of target) visit(instance.id);
  });
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
      const baseId = stepOutputBase(reference);
      if (baseId === undefined) {
        throw expressionError(
          step,
          reference,
          'expected params.<name>, matrix.<key> or steps.<id>.outputs.<name>',
        );
      }
      const name = reference.path[2] as string;
      const target = readTarget(step, baseId, plan);
      if (target === undefined)
        throw expressionError(step, reference, `no instance of "${baseId}" has this step's matrix values`);
      if (typeof target === 'string') return { value: outputOf(target, reference, name) };
      return { value: target.map((instance) => outputOf(instance.id, reference, name)) };
    },
    'final',
  );
  return resolved as Record<string, unknown>;
}
