import type { ResourceRequest } from './resources.js';

/** Retry policy of a step. Delay of retry n (from 1) = min(maxDelayMs, initialDelayMs × coefficient^(n−1)) ± jitter. */
export interface RetryPolicy {
  /** Total attempts including the first; 1 means no retry. */
  attempts: number;
  initialDelayMs: number;
  coefficient: number;
  maxDelayMs: number;
  /** Fraction of the delay randomised either way (0.2 = ±20 %). */
  jitter: number;
}

/** A declared pipeline parameter. */
export interface ParamDefinition {
  type?: 'string' | 'number' | 'boolean' | 'array' | 'object';
  default?: unknown;
  description?: string;
  required?: boolean;
}

/** One step as written in a pipeline file (or built in TypeScript). */
export interface StepDefinition {
  /** Display name; the key in `steps` is the id. */
  name?: string;
  /** Command name (`exec`, `grid.download`). */
  uses: string;
  /** Command parameters; strings may contain `${{ … }}` expressions. */
  with?: Record<string, unknown>;
  /**
   * Steps this one waits for. Omitted: the step after the previous one in file order (sequential by
   * default). `[]`: no dependencies.
   */
  needs?: string | string[];
  /** Runner name; `local` by default. */
  runner?: string;
  /** Memory may be written `4g`, `512m` or as MiB. */
  resources?: Omit<ResourceRequest, 'memoryMb' | 'labels'> & { memory?: string | number };
  /**
   * Capability labels a host must have to run the step (`gpu=a100`, `docker`), as in CI workflows; planned
   * into `resources.labels`. Runners that place work on other hosts (a distributed queue's workers) honour
   * them; a runner on this host does not look at them.
   */
  'runs-on'?: string | string[];
  /** Attempts as a number, or a policy. */
  retry?: number | Partial<RetryPolicy>;
  /** Per-attempt limit: `30s`, `5m`, `2h` or milliseconds. */
  timeout?: string | number;
  /** false: always run, never reuse a cached result. */
  cache?: boolean;
  /** Fan-out: one instance per combination; values are lists or a `${{ params.x }}` list. */
  matrix?: Record<string, unknown>;
}

/** A pipeline as written in a file or built in TypeScript. */
export interface PipelineDefinition {
  name: string;
  description?: string;
  params?: Record<string, ParamDefinition>;
  steps: Record<string, StepDefinition>;
}

/** One executable step of a plan: matrix expanded, dependencies resolved, policies normalised. */
export interface PlannedStep {
  /** Unique id; matrix instances are `train[dataset=a]`. */
  id: string;
  /** The key in the pipeline's `steps`. */
  baseId: string;
  name: string;
  uses: string;
  /** Parameters with expressions still in place (`${{ steps.… }}` resolve when the step starts). */
  with: Record<string, unknown>;
  needs: string[];
  runner: string;
  resources: ResourceRequest;
  retry: RetryPolicy;
  timeoutMs?: number;
  cache: boolean;
  /** This instance's matrix values. */
  matrix?: Record<string, unknown>;
}

/** A validated, expanded pipeline: what a run executes and the store keeps for resume. */
export interface Plan {
  pipeline: string;
  /** Steps in a topological order. */
  steps: PlannedStep[];
  params: Record<string, unknown>;
  source?: string;
}
