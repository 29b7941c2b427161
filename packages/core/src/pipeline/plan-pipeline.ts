import type {
  PipelineDefinition,
  Plan,
  PlannedStep,
  RetryPolicy,
  StepDefinition,
} from '../contracts/pipeline.js';
import type { ResourceRequest } from '../contracts/resources.js';
import { canonicalJson } from '../util/canonical-json.js';
import { setOwn } from '../util/own-keys.js';
import { didYouMean, listNames } from './did-you-mean.js';
import { checkPipeline, DEFAULT_RUNNER, type PipelineRegistries } from './check-pipeline.js';
import { matrixCombinations, matrixInstanceId, matrixLists } from './expand-matrix.js';
import {
  interpolate,
  isPlainObject,
  isTemplate,
  resolveExpressions,
  type ReferenceResolver,
} from './expressions.js';
import { parseDuration } from './parse-duration.js';
import { parseMemory } from './parse-memory.js';
import { topologicalOrder, type NeedsGraph } from './pipeline-graph.js';
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
  if (retry === undefined) return DEFAULT_RETRY_POLICY;
  if (typeof retry === 'number') return { ...DEFAULT_RETRY_POLICY, attempts: retry };
  const given = Object.fromEntries(Object.entries(retry).filter(([, value]) => value !== undefined));
  return { ...DEFAULT_RETRY_POLICY, ...given };
}

// Shared, frozen empties: a 100,000-step plan should not hold 100,000 empty objects and arrays.
const NO_PARAMS: Record<string, unknown> = Object.freeze({});
const NO_NEEDS: string[] = Object.freeze([]) as unknown as string[];
const DEFAULT_RESOURCES: Readonly<ResourceRequest> = Object.freeze({ cpus: 1, memoryMb: 0, gpus: 0 });

function resourceRequest(
  resources: StepDefinition['resources'],
  runsOn: StepDefinition['runs-on'],
): ResourceRequest {
  if (resources === undefined && runsOn === undefined) return DEFAULT_RESOURCES;
  return {
    cpus: resources?.cpus ?? 1,
    memoryMb: parseMemory(resources?.memory ?? 0) ?? 0,
    gpus: resources?.gpus ?? 0,
    ...(resources?.gpuOptional !== undefined && { gpuOptional: resources.gpuOptional }),
    ...(runsOn !== undefined && { labels: typeof runsOn === 'string' ? [runsOn] : [...runsOn] }),
  };
}

/** A string with its known expressions resolved; the very same string when that changes nothing. */
function resolveText(text: string, resolve: ReferenceResolver): unknown {
  if (!isTemplate(text)) return text;
  const resolved = resolveExpressions(text, resolve, 'partial');
  return resolved === text ? text : resolved;
}

/**
 * Resolves the expressions of a value tree like `resolveExpressions(…, 'partial')`: a new tree of objects
 * and arrays (the plan never shares them with the caller's definition), but strings that do not change
 * are not copied (a 100,000-step chain holds its `${{ steps.… }}` strings once, not twice).
 */
function resolveCopy(value: unknown, resolve: ReferenceResolver): unknown {
  if (typeof value === 'string') return resolveText(value, resolve);
  if (Array.isArray(value)) return (value as readonly unknown[]).map((item) => resolveCopy(item, resolve));
  if (isPlainObject(value)) {
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) setOwn(copy, key, resolveCopy(item, resolve));
    return copy;
  }
  return value;
}

/**
 * Resolves the expressions of a value tree like {@link resolveCopy}, but gives back the very objects,
 * arrays and strings that do not change: the instances of a matrix step share every part of their
 * `with:` that does not mention `matrix.*`.
 */
function resolveShared(value: unknown, resolve: ReferenceResolver): unknown {
  if (typeof value === 'string') return resolveText(value, resolve);
  if (Array.isArray(value)) {
    const items = value as readonly unknown[];
    let copy: unknown[] | undefined;
    items.forEach((item, index) => {
      const resolved = resolveShared(item, resolve);
      if (resolved !== item) (copy ??= [...items])[index] = resolved;
    });
    return copy ?? items;
  }
  if (isPlainObject(value)) {
    let copy: Record<string, unknown> | undefined;
    for (const [key, item] of Object.entries(value)) {
      const resolved = resolveShared(item, resolve);
      if (resolved !== item) setOwn((copy ??= { ...value }), key, resolved);
    }
    return copy ?? value;
  }
  return value;
}

/** What every instance of a step shares: computed once per step, not once per matrix instance. */
interface StepBase {
  baseId: string;
  step: StepDefinition;
  /** `with:` with params substituted; `matrix.*` and `steps.*` still expressions. */
  with: Record<string, unknown>;
  resources: ResourceRequest;
  retry: RetryPolicy;
  timeoutMs: number | undefined;
}

function stepBase(baseId: string, step: StepDefinition, params: Record<string, unknown>): StepBase {
  return {
    baseId,
    step,
    with:
      step.with === undefined
        ? NO_PARAMS
        : (resolveCopy(step.with, paramsAndMatrixResolver(params, undefined)) as Record<string, unknown>),
    resources: resourceRequest(step.resources, step['runs-on']),
    retry: retryPolicy(step.retry),
    timeoutMs: step.timeout === undefined ? undefined : parseDuration(step.timeout),
  };
}

/** Where a matrix step's instances are in the plan, and the matrix keys they differ by. */
interface Instances {
  start: number;
  end: number;
  keys: readonly string[] | undefined;
  /** Instance ids by the values of `keys`, built when a dependant first pairs with this step. */
  byValues?: Map<string, string[]>;
}

function valuesKey(matrix: Record<string, unknown>, keys: readonly string[]): string {
  return keys.map((key) => canonicalJson(matrix[key])).join('\0');
}

/**
 * Builds a plan step by step, in a topological order of the pipeline's steps, keeping nothing of the
 * expansion but the planned steps themselves (and where each step's instances are among them).
 */
class PlanBuilder {
  readonly steps: PlannedStep[] = [];
  readonly paramProblems: string[] = [];
  readonly issues: PipelineIssue[] = [];
  private readonly instances = new Map<string, Instances>();
  private readonly runners = new Set<string>();

  constructor(
    private readonly graph: NeedsGraph,
    private readonly params: Record<string, unknown>,
    private readonly registries: PipelineRegistries,
  ) {}

  add(baseId: string, step: StepDefinition): void {
    const base = stepBase(baseId, step, this.params);
    const start = this.steps.length;
    if (step.matrix === undefined) {
      // No entry in `instances`: a need of a plain step is its id, as for a need without an entry (a map
      // entry per step of a 100,000-step chain would be 10 MB of garbage once the plan is made).
      this.push(base, baseId, undefined, this.sharedNeeds(baseId, undefined) ?? NO_NEEDS);
      return;
    }
    const { lists, paramProblems } = matrixLists(baseId, step.matrix, this.params);
    this.paramProblems.push(...paramProblems);
    const keys = lists.map(([key]) => key);
    // Needs that do not pair by matrix values are the same list for every instance.
    const shared = this.sharedNeeds(baseId, keys);
    const ids = new Set<string>();
    for (const matrix of matrixCombinations(paramProblems.length > 0 ? [] : lists)) {
      const id = matrixInstanceId(baseId, matrix);
      if (ids.has(id)) {
        this.issues.push({
          path: ['steps', baseId, 'matrix'],
          message: `two matrix combinations give the same instance id ${id}`,
        });
      }
      ids.add(id);
      this.push(base, id, matrix, shared ?? this.pairedNeeds(baseId, id, matrix, keys));
    }
    this.instances.set(baseId, { start, end: this.steps.length, keys });
  }

  /**
   * The needs of every instance of a step, when none of them pairs by matrix values; undefined when each
   * instance has its own. `keys` are the step's matrix keys (undefined for a plain step).
   */
  private sharedNeeds(baseId: string, keys: readonly string[] | undefined): string[] | undefined {
    const needs: string[] = [];
    for (const need of this.graph.get(baseId) ?? NO_NEEDS) {
      const needed = this.instances.get(need);
      if (needed && pairs(needed, keys)) return undefined;
      if (needed) for (let i = needed.start; i < needed.end; i++) needs.push(this.steps[i]!.id);
      else needs.push(need);
    }
    return exactList(needs);
  }

  /**
   * The needs of one instance (see {@link planPipeline}): of a matrix step whose keys are all among this
   * step's, only the instance with the same values; of any other step, every instance.
   */
  private pairedNeeds(
    baseId: string,
    id: string,
    matrix: Record<string, unknown>,
    keys: readonly string[],
  ): string[] {
    const needs: string[] = [];
    for (const need of this.graph.get(baseId) ?? NO_NEEDS) {
      const needed = this.instances.get(need);
      if (!needed) {
        needs.push(need);
      } else if (pairs(needed, keys)) {
        const paired = this.byValues(needed).get(valuesKey(matrix, needed.keys!));
        if (paired === undefined) {
          this.issues.push({
            path: ['steps', baseId, 'needs'],
            message: `${id} needs "${need}", which has no instance with the same matrix values`,
          });
        } else needs.push(...paired);
      } else {
        for (let i = needed.start; i < needed.end; i++) needs.push(this.steps[i]!.id);
      }
    }
    return exactList(needs);
  }

  private byValues(needed: Instances): Map<string, string[]> {
    if (needed.byValues) return needed.byValues;
    const index = new Map<string, string[]>();
    for (let i = needed.start; i < needed.end; i++) {
      const { id, matrix } = this.steps[i]!;
      const key = valuesKey(matrix!, needed.keys!);
      const list = index.get(key);
      if (list) list.push(id);
      else index.set(key, [id]);
    }
    needed.byValues = index;
    return index;
  }

  private push(
    base: StepBase,
    id: string,
    matrix: Record<string, unknown> | undefined,
    needs: string[],
  ): void {
    const { step } = base;
    const resolver = paramsAndMatrixResolver(this.params, matrix);
    const runner =
      step.runner === undefined
        ? DEFAULT_RUNNER
        : interpolate(resolveExpressions(step.runner, resolver, 'final'));
    this.checkRunner(base.baseId, id, runner);
    const planned: PlannedStep = {
      id,
      baseId: base.baseId,
      name: step.name === undefined ? id : interpolate(resolveExpressions(step.name, resolver, 'final')),
      uses: step.uses,
      // params and matrix are known now; steps outputs stay as expressions until the step starts.
      with:
        matrix === undefined ? base.with : (resolveShared(base.with, resolver) as Record<string, unknown>),
      needs,
      runner,
      resources: base.resources,
      retry: base.retry,
      cache: step.cache ?? true,
    };
    if (base.timeoutMs !== undefined) planned.timeoutMs = base.timeoutMs;
    if (matrix !== undefined) planned.matrix = matrix;
    this.steps.push(planned);
  }

  private checkRunner(baseId: string, id: string, runner: string): void {
    if (this.runners.has(runner)) return;
    if (this.registries.hasRunner(runner)) {
      this.runners.add(runner);
      return;
    }
    const names = this.registries.runnerNames();
    this.issues.push({
      path: ['steps', baseId, 'runner'],
      message: `${id} runs on "${runner}", which is not a registered runner${didYouMean(runner, names)}; known runners: ${listNames(names)}`,
    });
  }
}

/**
 * The list as the plan keeps it: a list grown by `push` reserves room for more (17 slots for one
 * element), which over 100,000 steps of a chain is 15 MB of empty slots.
 */
function exactList(list: string[]): string[] {
  if (list.length === 0) return NO_NEEDS;
  return list.length === 1 ? [list[0]!] : list.slice();
}

/** Whether instances of a step pair with a needed matrix step's instances: its keys are all among `keys`. */
function pairs(needed: Instances, keys: readonly string[] | undefined): boolean {
  return needed.keys !== undefined && keys !== undefined && needed.keys.every((key) => keys.includes(key));
}

/**
 * Validates a pipeline and expands it into a {@link Plan}: params applied and converted, matrices expanded
 * into instances (`train[dataset=a]`), needs resolved, policies normalised, steps in a topological order
 * (file order where free), `${{ params.* }}` and `${{ matrix.* }}` substituted. Nothing runs.
 *
 * An instance of a matrix step that needs another matrix step whose keys are all among its own waits
 * only for the instance with the same values (`train[dataset=a]` waits for `prepare[dataset=a]`, not for
 * every dataset); otherwise it waits for every instance. This is the pairing
 * `${{ steps.<id>.outputs.<name> }}` uses, so a step waits for exactly what it can read.
 *
 * The plan is built without intermediate copies of the whole: matrix combinations are produced one at a
 * time, and what instances have in common (policies, resources, the unchanged parts of `with:`, needs
 * that do not pair) is one object they share.
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

  const builder = new PlanBuilder(graph, params, options);
  for (const baseId of topologicalOrder(graph)) {
    const step = definition.steps[baseId];
    if (step) builder.add(baseId, step);
  }
  if (builder.paramProblems.length > 0) throw paramsInvalidError(definition.name, builder.paramProblems);
  if (builder.issues.length > 0) throw invalid(builder.issues);

  const source = options.source ?? registered?.file;
  return { pipeline: definition.name, steps: builder.steps, params, ...(source !== undefined && { source }) };
}
