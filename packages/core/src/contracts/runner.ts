import type { Observable } from 'rxjs';
import type { Artifact } from './artifact.js';
import type { StepProcess } from './events.js';
import type { ResourceGrant, ResourceRequest } from './resources.js';

/** A host path made visible inside a sandbox (container runners). */
export interface Mount {
  source: string;
  target: string;
  readOnly?: boolean;
}

/**
 * What to run. Local runners use `argv`, `env`, `cwd`, `resources` and `timeoutMs`; container runners
 * also honour `image`, `mounts`, `network`, `user` and `labels`. A runner refuses a field it cannot
 * honour with `CORE_RUNNER_UNSUPPORTED` instead of ignoring it.
 */
export interface ProcessSpec {
  /** Program and arguments; `argv[0]` is looked up on PATH. */
  argv: readonly string[];
  /** Extra environment variables (local runners add them to the parent's environment). */
  env?: Readonly<Record<string, string>>;
  /** Working directory (host path for local runners, container path for container runners). */
  cwd?: string;
  /** Image reference, for container runners. */
  image?: string;
  mounts?: readonly Mount[];
  /** Granted resources: GPU ids become `CUDA_VISIBLE_DEVICES` locally, `DeviceIDs` in Docker. */
  resources?: ResourceGrant;
  /**
   * The step's resource request, as declared (counts, not ids), for a runner whose work a cluster's
   * scheduler places (`Runner.placement: 'remote'`): the engine grants such a step nothing from this
   * host's pool, and the runner asks its scheduler for this.
   */
  request?: ResourceRequest;
  /**
   * The step's time limit, which the engine enforces itself (through the `signal`): for runners that must
   * declare a limit up front, such as a batch scheduler's `--time`. Unlike `timeoutMs`, the runner does
   * not stop the work at this time.
   */
  timeLimitMs?: number;
  /** `none` for no network; a runner-specific name otherwise. */
  network?: string;
  /** `uid:gid` or a user name, for container runners. */
  user?: string;
  /** Wall-clock limit: the runner stops the work (SIGTERM, grace, SIGKILL) and reports `reason: 'timeout'`. */
  timeoutMs?: number;
  /** Time between SIGTERM and SIGKILL when stopping; default 10 s. */
  killGraceMs?: number;
  /** Ownership labels (run id, step id), for runners that can attach them. */
  labels?: Readonly<Record<string, string>>;
  /** A human-readable name hint (container name part). */
  name?: string;
  /**
   * The files the work reads and makes, for a runner that may run it on a host where the run's folder is
   * not mounted (a distributed worker copies the inputs in and the outputs back). Descriptive: a runner on
   * a host that has the folder needs none of it and ignores it.
   */
  files?: ProcessFiles;
}

/** What {@link ProcessSpec.files} says about the work's files; every path is an absolute host path. */
export interface ProcessFiles {
  /** The run's work directory: `cwd`, mount sources, `inputs` and `outputs.dir` normally lie under it. */
  root: string;
  /**
   * Files earlier steps made that the work may read (the artifacts of the steps it needs and of those its
   * expressions read), with digests.
   */
  inputs: readonly Pick<Artifact, 'path' | 'sha256' | 'size'>[];
  /**
   * Files of the run's folder the work reads that no earlier step made (an `exec` step's `inputs`): globs
   * relative to `dir`, for a runner that moves the work to resolve and digest.
   */
  reads?: { dir: string; patterns: readonly string[] };
  /** The declared output files: globs relative to `dir`, collected by the caller after a successful exit. */
  outputs?: { dir: string; patterns: readonly string[] };
}

/**
 * What a command asks of its step's runner for the cache key: the image it runs in, if any. The runner
 * turns it into its identity (`Runner.identity`), e.g. the image's content digest.
 */
export interface RunnerIdentityRequest {
  readonly image?: string;
}

/** Options of one `exec` call. */
export interface ExecOptions {
  /**
   * Aborting stops the work gracefully (SIGTERM, grace, SIGKILL); the stream still ends with its
   * `exit` event (`reason: 'cancelled'`) once the process or container is confirmed gone.
   */
  signal?: AbortSignal;
}

/**
 * What stopping a step's leftover work found and did (`Runner.stopOrphaned`, core's own process check):
 * `stopped` it was still running and is now gone; `gone` nothing of it is left; `unchecked` it is not
 * something this check can prove to be the recorded work (another host, another owner), so it was left.
 */
export type OrphanOutcome = 'stopped' | 'gone' | 'unchecked';

/** Why a process ended, when it did not simply exit by itself. */
export type ExitReason = 'timeout' | 'cancelled';

/** Events of one process run, in order: `started`, output chunks, then exactly one `exit`. */
export type ProcessEvent =
  | {
      type: 'started';
      pid?: number;
      containerId?: string;
      name?: string;
      /** The id of the job a cluster runner submitted (Slurm job id). */
      jobId?: string;
      /** The machine the work runs on, when it is not this one (a cluster node). */
      node?: string;
      /** The GPU ids a cluster's scheduler granted (a local grant is the step's `started` resources). */
      gpus?: readonly string[];
    }
  | { type: 'stdout'; data: Buffer }
  | { type: 'stderr'; data: Buffer }
  | {
      type: 'exit';
      /** Exit code, or null when killed by a signal. */
      code: number | null;
      /** The signal that ended it (`SIGKILL`), or null. */
      signal: string | null;
      /** Killed by the kernel's OOM killer (container runners with a memory limit). */
      oomKilled: boolean;
      reason?: ExitReason;
    };

/**
 * Where a process runs. `exec` returns a cold Observable: nothing starts before subscription; the
 * stream emits `started`, stdout/stderr chunks (byte-exact, kept apart), one `exit`, then completes.
 * Unsubscribing before `exit` kills the work as a last resort; prefer the `signal` for a graceful stop
 * whose end can be awaited. A failure to start at all is an error notification, not an `exit`.
 */
export interface Runner {
  /** The name a pipeline step picks it by (`local`, `docker`). */
  readonly name: string;
  /**
   * The runner's identity, part of a step's cache key: for containers the content digest of the
   * requested image (or the runner's default image), for local processes the host and runner kind. The
   * request comes from the step's command (`Command.runnerIdentity`).
   */
  identity(request: RunnerIdentityRequest): Promise<string>;
  exec(spec: ProcessSpec, options?: ExecOptions): Observable<ProcessEvent>;
  /**
   * Where a step's work runs: `local` (the default) on this host, so the engine grants the step's CPUs,
   * memory and GPU ids from this host's resource pool; `remote` where another scheduler places it (a
   * batch cluster), so the engine takes nothing from the pool, does not refuse a request this host could
   * not grant, and passes the request on (`ProcessSpec.request`).
   */
  readonly placement?: 'local' | 'remote';
  /**
   * Stops work this runner started for a step whose engine died (`kill -9`), from what was recorded of
   * it (`process` event): for work that is not a process on this host, such as a cluster job. `resume`,
   * and every runtime that starts on the store, call it before the step runs again, and it resolves once
   * the work is gone. Runners without it leave such work to their own janitor.
   */
  stopOrphaned?(recorded: StepProcess): Promise<OrphanOutcome>;
}

/** The runtime's runners by name, read-only (`Tokens.Runners`). */
export interface RunnerLookup {
  get(name: string): Runner | undefined;
  /** The runner, or `CORE_RUNNER_UNKNOWN` naming the registered ones. */
  require(name: string): Runner;
  has(name: string): boolean;
  /** Registered names, sorted. */
  names(): string[];
}
