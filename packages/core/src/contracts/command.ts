import type { Observable } from 'rxjs';
import type { Artifact } from './artifact.js';
import type { ResourceGrant, ResourceRequest } from './resources.js';
import type { Runner, RunnerIdentityRequest } from './runner.js';
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
  /** The step's resource request as declared; a runner that places work remotely asks its scheduler for it. */
  readonly request?: ResourceRequest;
  /** The step's timeout (ms), which the engine enforces through `signal`; for runners that declare a limit up front. */
  readonly timeoutMs?: number | undefined;
  /** The runner the step picked (`runner:` in the pipeline, `local` by default). */
  readonly runner: Runner;
  /** Ownership labels to attach to anything the command creates (run id, step id). */
  readonly labels: Readonly<Record<string, string>>;
  /**
   * The artifacts of the steps this step needs (in `needs` order), then of the steps further up that its
   * `${{ steps.… }}` expressions read: the files it may read from earlier steps.
   */
  readonly inputs?: readonly Artifact[];
}

/**
 * What one pipeline step does. `execute` returns a cold Observable: nothing starts before subscription,
 * and unsubscribing must stop every process, container, socket and timer the command started.
 * Commands should end promptly after `ctx.signal` aborts (the engine waits for the stream to end
 * before it releases the step's resources).
 *
 * Methods are declared with method syntax on purpose: a `Command<{ ms: number }>` is then a
 * `Command<unknown>`, so registries take any command without casts. Write commands as classes (the
 * runtime's container can construct them, see `PluginRegistry.addCommand`) or with `defineCommand`,
 * which infers `Params` from the schema.
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
   * What the step's runner contributes to the cache key, from the validated parameters:
   * - absent: the runner's plain identity (`Runner.identity({})`), e.g. the host kind for `local`;
   * - `{ image }`: the runner's identity for that image (its content digest for `docker`), so a
   *   rebuilt image under the same tag re-runs the step;
   * - `null`: the command never uses the runner (downloads, builds through an API), so the key has no
   *   runner part and does not depend on where the step would have run.
   */
  runnerIdentity?(params: Params): RunnerIdentityRequest | null;
  execute(ctx: CommandContext, params: Params): Observable<StepEvent>;
}

/** What `defineCommand` takes: a command whose parameter type is inferred from its schema. */
export interface CommandDefinition<Schema extends StandardSchemaV1> {
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  readonly params: Schema;
  runnerIdentity?(params: StandardSchemaV1.InferOutput<Schema>): RunnerIdentityRequest | null;
  execute(ctx: CommandContext, params: StandardSchemaV1.InferOutput<Schema>): Observable<StepEvent>;
}

/**
 * Defines a command from a plain object, with `execute`'s parameters typed by the schema's output (zod,
 * valibot, arktype: any Standard Schema). The result registers as is: `registry.addCommand(command)`.
 *
 * @example
 * ```ts
 * const greet = defineCommand({
 *   name: 'demo.greet',
 *   version: '1',
 *   params: z.object({ who: z.string() }),
 *   runnerIdentity: () => null,
 *   execute: (ctx, { who }) => of({ type: 'outputs', outputs: { greeting: `hello ${who}` } }),
 * });
 * ```
 */
export function defineCommand<Schema extends StandardSchemaV1>(
  definition: CommandDefinition<Schema>,
): Command<StandardSchemaV1.InferOutput<Schema>> {
  return definition;
}
