import type { Artifact } from './artifact.js';
import type { StepOutputs } from './command.js';
import type { ResourceGrant } from './resources.js';

/** A serialisable summary of an error, as recorded in events. */
export interface ErrorInfo {
  code: string;
  message: string;
  retryable: boolean;
}

/** The parts a step's cache key is hashed from; stored so `explain` can say which part changed. */
export interface CacheKeyParts {
  command: string;
  commandVersion: string;
  /** Resolved parameters, canonical JSON. */
  params: string;
  /** `<producing step>/<artifact name>` → sha256 of the artifacts of the steps this one needs. */
  inputs: Record<string, string>;
  /** The runner's identity (`local@host`, an image digest), or `-` for commands that use no runner. */
  runner: string;
}

/**
 * A process or container a step's runner started, recorded (event `process`) so that a later engine can
 * find it after a crash: `resume` and a starting runtime stop a recorded process group that outlived its
 * engine before the step runs again.
 */
export interface StepProcess {
  /** The runner that started it (`local`, `docker`). */
  runner: string;
  /** Process id of what the runner started, when it is a host process. */
  pid?: number;
  /**
   * Its process group, only when it leads one (LocalProcessRunner spawns every process detached, so this
   * is the pid): stopping the group reaches everything the step started.
   */
  pgid?: number;
  /** Container id, for container runners (their own janitor removes leftovers). */
  containerId?: string;
  /** Job id, for cluster runners (a Slurm job); the runner stops what is left of it (`Runner.stopOrphaned`). */
  jobId?: string;
  /** The cluster node the job runs on. */
  node?: string;
  /** The GPU ids the cluster's scheduler granted the job. */
  gpus?: readonly string[];
  /** Host name of the machine it runs on. */
  host: string;
  /** `/proc/sys/kernel/random/boot_id` of that machine (Linux): pids mean nothing after a reboot. */
  bootId?: string;
  /**
   * Start time of the process in clock ticks since boot (field 22 of `/proc/<pid>/stat`, Linux): a pid
   * reused by an unrelated process has another start time, so it is never stopped by mistake.
   */
  startTime?: number;
}

interface EventBase {
  runId: string;
  /** Position in the run's event log, from 1, without gaps. */
  seq: number;
  /** Epoch milliseconds. */
  time: number;
}

interface StepEventBase extends EventBase {
  stepId: string;
}

/** Every event of a run, a discriminated union on `type`. */
export type RunEvent =
  | (EventBase & { type: 'run-started'; pipeline: string; resumed: boolean })
  | (EventBase & { type: 'run-succeeded'; durationMs: number })
  | (EventBase & { type: 'run-failed'; error: ErrorInfo; durationMs: number })
  | (EventBase & { type: 'run-cancelled'; reason: string; durationMs: number })
  | (StepEventBase & { type: 'queued' })
  | (StepEventBase & {
      type: 'started';
      attempt: number;
      resources: ResourceGrant;
      key: string;
      keyParts: CacheKeyParts;
    })
  | (StepEventBase & { type: 'process'; attempt: number; process: StepProcess })
  | (StepEventBase & { type: 'progress'; attempt: number; current: number; total?: number; message?: string })
  | (StepEventBase & { type: 'log'; attempt: number; stream: 'stdout' | 'stderr' | 'system'; text: string })
  | (StepEventBase & { type: 'metric'; attempt: number; name: string; value: number; step?: number })
  | (StepEventBase & { type: 'artifact'; attempt: number; artifact: Artifact })
  | (StepEventBase & { type: 'retrying'; attempt: number; delayMs: number; error: ErrorInfo })
  | (StepEventBase & {
      type: 'succeeded';
      attempt: number;
      outputs: StepOutputs;
      artifacts: Artifact[];
      durationMs: number;
    })
  | (StepEventBase & { type: 'failed'; attempt: number; error: ErrorInfo; durationMs: number })
  | (StepEventBase & {
      type: 'cached';
      key: string;
      keyParts: CacheKeyParts;
      outputs: StepOutputs;
      artifacts: Artifact[];
      fromRunId: string;
    })
  | (StepEventBase & { type: 'cancelled'; reason: string });

/** The `type` of every run event (`run-started`, `started`, `log`, `succeeded`, …). */
export type RunEventType = RunEvent['type'];

/** The event of a given type. */
export type RunEventOf<T extends RunEventType> = Extract<RunEvent, { type: T }>;

/** An event before the engine stamps it with `runId`, `seq` and `time`. */
export type RunEventInit = RunEvent extends infer E
  ? E extends RunEvent
    ? Omit<E, 'runId' | 'seq' | 'time'>
    : never
  : never;

/** Listener signatures for the typed eventemitter3 bridge: one event name per `type`, plus `event` for all. */
export type RunEventMap = { [T in RunEventType]: [event: RunEventOf<T>] } & { event: [event: RunEvent] };

/** Types that end a step. */
export const STEP_TERMINAL_TYPES = ['succeeded', 'failed', 'cached', 'cancelled'] as const;
/** Types that end a run. */
export const RUN_TERMINAL_TYPES = ['run-succeeded', 'run-failed', 'run-cancelled'] as const;
