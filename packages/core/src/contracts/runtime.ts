import type { Observable } from 'rxjs';
import type { EventEmitter } from 'eventemitter3';
import type { Command } from './command.js';
import type { ErrorInfo, RunEvent, RunEventMap } from './events.js';
import type { PipelineDefinition } from './pipeline.js';
import type { Plugin } from './plugin.js';
import type { ResourceCapacity } from './resources.js';
import type { Runner } from './runner.js';
import type { RunStatus, StepState, Store } from './store.js';
import type { Token } from '../di/token.js';

/** Where the runtime reads the time (`Tokens.Clock`); tests pass a fake one in `RuntimeOptions.clock`. */
export interface Clock {
  /** Milliseconds since the epoch, like `Date.now()`. */
  now(): number;
}

/** Runtime-wide settings, read-only (`Tokens.Config`). */
export interface RuntimeConfig {
  /** Working directory of runs (absolute). */
  readonly cwd: string;
  /** Most steps running at once, on top of resource limits. */
  readonly maxParallel: number;
  /** How often a running engine looks for cancel requests from other processes (ms). */
  readonly cancelPollMs: number;
  /**
   * How long after aborting an attempt the engine waits for the command to end by itself before it
   * unsubscribes (the runner's own SIGTERM → SIGKILL grace runs inside this).
   */
  readonly stopGraceMs: number;
}

/** How much a runtime event matters. */
export type RuntimeEventLevel = 'debug' | 'info' | 'warning' | 'error';

/** What a plugin, runner, store or the engine reports outside any run: warnings, clean-up reports. */
export interface RuntimeEventInit {
  readonly level: RuntimeEventLevel;
  /** Who reports it: `docker.janitor`, `runner.local`, `store`. */
  readonly source: string;
  /** One line for people. */
  readonly message: string;
  /** Structured facts (ids, paths, counts); never secrets. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** A runtime event as delivered: stamped with the runtime clock's time. */
export interface RuntimeEvent extends RuntimeEventInit {
  readonly time: number;
}

/** Where runtime events go (`Tokens.Events`): inject it and `emit`. Never throws, never blocks. */
export interface EventSink {
  emit(event: RuntimeEventInit): void;
}

/** Listener signatures of `Runtime.events`: one name per level, plus `event` for all. */
export type RuntimeEventMap = { [L in RuntimeEventLevel]: [event: RuntimeEvent] } & {
  event: [event: RuntimeEvent];
};

/** Options of `createRuntime`: plugins, store, resource capacity, parallelism, working directory, clock. */
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
  /** Where the runtime reads the time; default the system clock. */
  clock?: Clock;
}

/** Options of {@link Runtime.run} and {@link Runtime.runFile}. */
export interface RunOptions {
  params?: Record<string, unknown>;
  /** Path the pipeline came from, recorded with the run and used in error messages. */
  source?: string;
  /** Ignore cached results (they are still written). */
  noCache?: boolean;
}

/** How a run ended ({@link RunHandle.done}): its status, each step's state, the error of a failed run, its duration. */
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

/**
 * What `createRuntime` returns: runs pipelines, resumes, cancels and explains runs, resolves services by
 * token, reports runtime events, and closes everything it started.
 */
export interface Runtime {
  readonly store: Store;
  readonly cwd: string;
  /**
   * Runtime events (warnings, clean-up reports) of plugins, runners, stores and the engine. A late
   * subscriber first gets the most recent ones (up to 100, so warnings from start-up are not lost),
   * then live events. Completes when the runtime closes.
   */
  readonly events$: Observable<RuntimeEvent>;
  /** The same events for listeners (`on('warning', e => …)`, `on('event', …)`). */
  readonly events: EventEmitter<RuntimeEventMap>;
  /**
   * A service under a token: a core token (`Tokens.Store`, …) or one a plugin exports
   * (`runtime.resolve(DockerRunnerToken)`). `CORE_DEPENDENCY_UNRESOLVED` when nothing provides it.
   */
  resolve<T>(token: Token<T>): T;
  /** Validates, plans and starts a run. Rejects with `CORE_PIPELINE_INVALID` and friends before anything runs. */
  run(pipeline: PipelineDefinition, options?: RunOptions): Promise<RunHandle>;
  /** Loads a YAML or JSON pipeline file and runs it. */
  runFile(path: string, options?: Omit<RunOptions, 'source'>): Promise<RunHandle>;
  /** Continues a run from the store: completed steps are not run again. */
  resume(runId: string): Promise<RunHandle>;
  /** Asks the run to cancel, also when another process drives it. */
  cancel(runId: string, reason?: string): Promise<void>;
  explain(runId: string, stepId: string): Promise<Explanation>;
  command(name: string): Command | undefined;
  runner(name: string): Runner | undefined;
  readonly capacity: ResourceCapacity;
  /** Stops services and plugins, waits for running runs to be cancelled, closes the store. */
  close(): Promise<void>;
}
