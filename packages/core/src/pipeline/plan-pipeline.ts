import type {
  PipelineDefinition,
  Plan,
  PlannedStep,
  RetryPolicy,
  StepDefinition,
} from '../contracts/pipeline.js';
import type { ResourceRequest } from '../contracts/resources.js';
import { canonicalJson } from '../util/canonical-json.js';
import { didYouMean, listNames } from './did-you-mean.js';
import { checkPipeline, DEFAULT_RUNNER, type PipelineRegistries } from './check-pipeline.js';
import { expandMatrix, type MatrixInstance } from './expand-matrix.js';
import { interpolate, resolveExpressions } from './expressions.js';
import { parseDuration } from './parse-duration.js';
import { parseMemory } from './parse-memory.js';
import { topologicalOrder } from './pipeline-graph.js';
import { locateIssues, pipelineInvalidError, type PipelineIssue } from './pipeline-issue.js';
import { validatePipelineShape } from './pipeline-schema.js';
import { pipelineSourceOf } from './pipeline-source.js';
import { paramsAndMatrixResolver } from './reference-scope.js';
import { paramsInvalidError, resolvePipelineParams } from './resolve-pipeline-params.js';

/** What {@link planPipeline} needs besides the definition. */
export interface PlanPipelineOptions extends PipelineRegistries {
  /** Param values of this run (e.g. from `--param`); converted to the declared types. */
  params?: Record<string, unknown>;
  /** Where the pipeline came from (a file path); named in errors and kept in the plan. */
  source?: string;
}

/** The retry policy a step gets for whatever it does not set. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  attempts: 1,
  initialDelayMs: 1000,
  coefficient: 2,
  maxDelayMs: 60_000,
  jitter: 0.2,
});

function retryPolicy(retry: StepDefinition['retry']): RetryPolicy {
  // Steps share the default object: a 100,000-step plan should not hold 100,000 copies of it.
  if (retry === undefined) return DEFAULT_RETRY_POLICY;
  if (typeof retry === 'number') return { ...DEFAULT_RETRY_POLICY, attempts: retry };
  const given = Object.fromEntries(Object.entries(retry).filter(([, value]) => value !== undefined));
  return { ...DEFAULT_RETRY_POLICY, ...given };
}

// Shared, frozen empties: a 100,000-step plan should not hold 100,000 empty objects and arrays.
const NO_PARAMS: Record<string, unknown> = Object.freeze({});
const NO_NEEDS: string[] = Object.freeze([]) as unknown as string[];
const DEFAULT_RESOURCES: Readonly<ResourceRequest> = Object.freeze({ cpus: 1, memoryMb: 0, gpus: 0 });

function resourceRequest(resources: StepDefinition['resources']): ResourceRequest {
  if (resources === undefined) return DEFAULT_RESOURCES;
  return {
    cpus: resources?.cpus ?? 1,
    memoryMb: parseMemory(resources?.memory ?? 0) ?? 0,
    gpus: resources?.gpus ?? 0,
    ...(resources?.gpuOptional !== undefined && { gpuOptional: resources.gpuOptional }),
  };
}

function plannedStep(
  baseId: string,
  step: StepDefinition,
  instance: MatrixInstance | undefined,
  needs: readonly string[],
  params: Record<string, unknown>,
): PlannedStep {
  const resolver = paramsAndMatrixResolver(params, instance?.matrix);
  const id = instance?.id ?? baseId;
  const timeoutMs = step.timeout === undefined ? undefined : parseDuration(step.timeout);
  return {
    id,
    baseId,
    name: step.name === undefined ? id : interpolate(resolveExpressions(step.name, resolver, 'final')),
    uses: step.uses,
    // params and matrix are known now; steps outputs stay as expressions until the step starts.
    with:
      step.with === undefined
        ? NO_PARAMS
        : (resolveExpressions(step.with, resolver, 'partial') as Record<string, unknown>),
    needs: needs.length === 0 ? NO_NEEDS : [...needs],
    runner:
      step.runner === undefined
        ? DEFAULT_RUNNER
        : interpolate(resolveExpressions(step.runner, resolver, 'final')),
    resources: resourceRequest(step.resources),
    retry: retryPolicy(step.retry),
    ...(timeoutMs !== undefined && { timeoutMs }),
    cache: step.cache ?? true,
    ...(instance && { matrix: instance.matrix }),
  };
}

/**
 * Validates a pipeline and expands it into a {@link Plan}: params applied and converted, matrices expanded
 * into instances (`train[dataset=a]`), needs resolved (see {@link pairedInstances}),
 * policies normalised, steps in a topological order (file order where free), `${{ params.* }}` and
 * `${{ matrix.* }}` substituted. Nothing runs.
 *
 * Throws one `CORE_PIPELINE_INVALID` listing every issue of the pipeline (with lines when it was loaded by
 * `loadPipelineFile`/`parsePipeline`), or one `CORE_PARAMS_INVALID` listing every problem with the params.
 */
export function planPipeline(definition: PipelineDefinition, options: PlanPipelineOptions): Plan {
  const registered = pipelineSourceOf(definition);
  const file =
    registered?.file ??
    options.source ??
    `<pipeline ${String((definition as Partial<PipelineDefinition>).name)}>`;
  const invalid = (issues: PipelineIssue[]) =>
    pipelineInvalidError(file, locateIssues(issues, registered?.locate));

  const shapeIssues = validatePipelineShape(definition);
  if (shapeIssues.length > 0) throw invalid(shapeIssues);
  const { graph, issues } = checkPipeline(definition, options);
  if (issues.length > 0) throw invalid(issues);
  const params = resolvePipelineParams(definition.name, definition.params ?? {}, options.params ?? {});

  const steps: PlannedStep[] = [];
  const instancesOf = new Map<string, (MatrixInstance | undefined)[]>();
  const paramProblems: string[] = [];
  const expansionIssues: PipelineIssue[] = [];
  for (const baseId of topologicalOrder(graph)) {
    const step = definition.steps[baseId];
    if (!step) continue;
    let instances: (MatrixInstance | undefined)[] = [undefined];
    if (step.matrix) {
      const expanded = expandMatrix(baseId, step.matrix, params);
      paramProblems.push(...expanded.paramProblems);
      expansionIssues.push(...expanded.issues);
      instances = expanded.instances;
    }
    instancesOf.set(baseId, instances);
    for (const instance of instances) {
      const needs: string[] = [];
      for (const need of graph.get(baseId) ?? []) {
        const paired = pairedInstances(instancesOf.get(need) ?? [], instance);
        if (paired.length === 0) {
          expansionIssues.push({
            path: ['steps', baseId, 'needs'],
            message: `${instance?.id ?? baseId} needs "${need}", which has no instance with the same matrix values`,
          });
        }
        for (const needed of paired) needs.push(needed?.id ?? need);
      }
      steps.push(plannedStep(baseId, step, instance, needs, params));
    }
  }
  for (const step of steps) {
    if (!options.hasRunner(step.runner)) {
      const names = options.runnerNames();
      expansionIssues.push({
        path: ['steps', step.baseId, 'runner'],
        message: `${step.id} runs on "${step.runner}", which is not a registered runner${didYouMean(step.runner, names)}; known runners: ${listNames(names)}`,
      });
    }
  }
  if (paramProblems.length > 0) throw paramsInvalidError(definition.name, paramProblems);
  if (expansionIssues.length > 0) throw invalid(expansionIssues);

  const source = options.source ?? registered?.file;
  return { pipeline: definition.name, steps, params, ...(source !== undefined && { source }) };
}

/**
 * The instances of a needed step that one instance waits for: when both are matrix steps and the needed
 * step's keys are all among this one's, only the instances with the same values (`train[dataset=a]` waits
 * for `prepare[dataset=a]`, not for every dataset); otherwise all of them. This is the same pairing
 * `${{ steps.<id>.outputs.<name> }}` uses, so a step waits for exactly what it can read.
 */
function pairedInstances(
  needed: readonly (MatrixInstance | undefined)[],
  instance: MatrixInstance | undefined,
): (MatrixInstance | undefined)[] {
  const keys = needed[0]?.matrix && Object.keys(needed[0].matrix);
  if (!instance || !keys || !keys.every((key) => Object.hasOwn(instance.matrix, key))) return [...needed];
  return needed.filter((candidate) =>
    keys.every((key) => canonicalJson(candidate?.matrix[key]) === canonicalJson(instance.matrix[key])),
  );
}
