import type { Observable } from 'rxjs';
import type { ResourceGrant } from './resources.js';

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

/** Why a process ended, when it did not simply exit by itself. */
export type ExitReason = 'timeout' | 'cancelled';

/** Events of one process run, in order: `started`, output chunks, then exactly one `exit`. */
export type ProcessEvent =
  | { type: 'started'; pid?: number; containerId?: string; name?: string }
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
