import type { Observable } from 'rxjs';
import type { EventEmitter } from 'eventemitter3';
import type { Command } from './command.js';
import type { ErrorInfo, RunEvent, RunEventMap } from './events.js';
import type { PipelineDefinition } from './pipeline.js';
import type { Plugin } from './plugin.js';
import type { ResourceCapacity } from './resources.js';
import type { Runner } from './runner.js';
import type { RunStatus, StepState, Store } from './store.js';

export interface RuntimeOptions {
  plugins?: readonly Plugin[];
  /** Default: a `SqliteStore` in `<cwd>/.beamline/`. */
  store?: Store;
  /**
   * Pool capacity. Defaults: all CPU cores, total memory, GPU ids from `CUDA_VISIBLE_DEVICES`
   * (none when unset).
   */
  resources?: Partial<ResourceCapacity>;
  /** Most steps running at once, on top of resource limits. Default: 64. */
  maxParallel?: number;
  /** Working directory of runs; default `process.cwd()`. */
  cwd?: string;
  /** How often a running engine looks for cancel requests from other processes (ms, default 250). */
  cancelPollMs?: number;
}

export interface RunOptions {
  params?: Record<string, unknown>;
  /** Path the pipeline came from, recorded with the run and used in error messages. */
  source?: string;
  /** Ignore cached results (they are still written). */
  noCache?: boolean;
}

export interface RunResult {
  runId: string;
  status: Exclude<RunStatus, 'running'>;
  steps: Record<string, StepState>;
  error?: ErrorInfo;
  durationMs: number;
}

/** A started run. */
export interface RunHandle {
  readonly id: string;
  /**
   * Every event of the run: a late subscriber first gets what was already recorded (from the store),
   * then the live events, without gaps or repeats. Completes when the run ends.
   */
  readonly events$: Observable<RunEvent>;
  /** The same events for listeners (`on('failed', e => …)`, `on('event', …)`). */
  readonly events: EventEmitter<RunEventMap>;
  /** Resolves when the run ends, whatever its status; rejects only on an internal failure (store). */
  readonly done: Promise<RunResult>;
  /** Cancels the run: running work is stopped (SIGTERM, grace, SIGKILL), the reason recorded. */
  cancel(reason?: string): void;
}

/** One part of a cache key that differs from the previous execution of the same step. */
export interface KeyChange {
  part: 'command' | 'commandVersion' | 'params' | 'inputs' | 'runner';
  before: unknown;
  after: unknown;
}

/** Why a step ran or was served from the cache. */
export interface Explanation {
  runId: string;
  stepId: string;
  status: StepState['status'];
  key?: string;
  /** The earlier execution compared against (run id), if there was one. */
  comparedWith?: { runId: string; key: string };
  changes: KeyChange[];
  /** One paragraph for people. */
  summary: string;
}

export interface Runtime {
  readonly store: Store;
  readonly cwd: string;
  /** Validates, plans and starts a run. Rejects with `CORE_PIPELINE_INVALID` and friends before anything runs. */
  run(pipeline: PipelineDefinition, options?: RunOptions): Promise<RunHandle>;
  /** Loads a YAML or JSON pipeline file and runs it. */
  runFile(path: string, options?: Omit<RunOptions, 'source'>): Promise<RunHandle>;
  /** Continues a run from the store: completed steps are not run again. */
  resume(runId: string): Promise<RunHandle>;
  /** Asks the run to cancel, also when another process drives it. */
  cancel(runId: string, reason?: string): Promise<void>;
  explain(runId: string, stepId: string): Promise<Explanation>;
  command(name: string): Command<unknown> | undefined;
  runner(name: string): Runner | undefined;
  readonly capacity: ResourceCapacity;
  /** Stops services and plugins, waits for running runs to be cancelled, closes the store. */
  close(): Promise<void>;
}
