import type { Observable } from 'rxjs';
import type { Artifact } from './artifact.js';
import type { ResourceGrant } from './resources.js';
import type { Runner } from './runner.js';
import type { StandardSchemaV1 } from './standard-schema.js';

/** Keys of the ownership labels the engine puts in `CommandContext.labels` (and runners pass on). */
export const STEP_LABELS = {
  run: 'beamline.run',
  step: 'beamline.step',
  pipeline: 'beamline.pipeline',
} as const;

/** JSON-compatible step outputs, referenced downstream as `${{ steps.<id>.outputs.<name> }}`. */
export type StepOutputs = Record<string, unknown>;

/** What a command's stream carries; the last event is `outputs` (a command that emits none has no outputs). */
export type StepEvent =
  | { type: 'progress'; current: number; total?: number; message?: string }
  | { type: 'log'; stream: 'stdout' | 'stderr' | 'system'; text: string }
  | { type: 'metric'; name: string; value: number; step?: number }
  | { type: 'artifact'; artifact: Artifact }
  | { type: 'outputs'; outputs: StepOutputs };

/** Everything a command needs to run one attempt of one step. */
export interface CommandContext {
  readonly runId: string;
  readonly stepId: string;
  /** 1 for the first attempt; commands may ask for more on later attempts. */
  readonly attempt: number;
  /** Aborted on cancellation or timeout; `signal.reason` says which. Pass it to the runner. */
  readonly signal: AbortSignal;
  /** The run's working directory (absolute); relative paths in parameters resolve against it. */
  readonly workdir: string;
  /** A private directory for this step (absolute). Not created in advance: most steps never need one. */
  readonly stepDir: string;
  readonly resources: ResourceGrant;
  /** The runner the step picked (`runner:` in the pipeline, `local` by default). */
  readonly runner: Runner;
  /** Ownership labels to attach to anything the command creates (run id, step id). */
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * What one pipeline step does. `execute` returns a cold Observable: nothing starts before subscription,
 * and unsubscribing must stop every process, container, socket and timer the command started.
 * Commands should end promptly after `ctx.signal` aborts (the engine waits for the stream to end
 * before it releases the step's resources).
 */
export interface Command<Params = unknown> {
  /** Stable name used by `uses:` (`exec`, `grid.download`, `docker.build`). */
  readonly name: string;
  /** Part of the cache key: bump it when the command's behaviour changes. */
  readonly version: string;
  /** One line for `--help` style listings. */
  readonly description?: string;
  /** The parameter schema; `with:` is validated against it after expressions are resolved. */
  readonly params: StandardSchemaV1<unknown, Params>;
  /**
   * The runner identity is part of the cache key; commands that never touch the runner (downloads,
   * builds through an API) return false so a step's key does not depend on where it would have run.
   */
  readonly usesRunner?: boolean;
  execute(ctx: CommandContext, params: Params): Observable<StepEvent>;
}
