import type { Artifact } from './artifact.js';
import type { StepOutputs } from './command.js';
import type { CacheKeyParts, ErrorInfo, RunEvent, RunEventType, StepProcess } from './events.js';

/** Where a run stands: `running` until it ends as `succeeded`, `failed` or `cancelled`. */
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';
/** Where a step stands, from `pending` (planned) to one of its ends: `succeeded`, `failed`, `cached`, `cancelled`. */
export type StepStatus = 'pending' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cached' | 'cancelled';

/** What a run was started with: enough to resume it in another process. */
export interface RunRecord {
  id: string;
  pipeline: string;
  /** The resolved plan (JSON-serialisable), as produced by the pipeline planner. */
  plan: unknown;
  params: Record<string, unknown>;
  /** Working directory of the run (absolute). */
  cwd: string;
  /** Where the pipeline came from (a file path), if anywhere. */
  source?: string;
  createdAt: number;
}

/** Step state, materialised from the event log. */
export interface StepState {
  stepId: string;
  status: StepStatus;
  /** Attempt number of the latest `started`, 0 before. */
  attempt: number;
  key?: string;
  keyParts?: CacheKeyParts;
  outputs?: StepOutputs;
  artifacts?: Artifact[];
  error?: ErrorInfo;
  startedAt?: number;
  endedAt?: number;
  /** For cached steps: the run whose result was reused. */
  fromRunId?: string;
  /** The process or container the current attempt runs in (from its `process` event), until the step ends. */
  process?: StepProcess;
}

/** Run state, materialised from the event log. */
export interface RunState {
  id: string;
  pipeline: string;
  status: RunStatus;
  createdAt: number;
  updatedAt: number;
  /** Highest `seq` in the log (0 when empty). */
  lastSeq: number;
  steps: Record<string, StepState>;
  error?: ErrorInfo;
  cancelReason?: string;
  /**
   * Set (never derived from events) when the status says `running` but the process that drove the run is
   * gone: it died on this host (`kill -9`, a crash) or the host rebooted since. `resume` continues it.
   */
  interrupted?: true;
}

/** One row of `listRuns`. */
export interface RunSummary {
  id: string;
  pipeline: string;
  status: RunStatus;
  createdAt: number;
  updatedAt: number;
  /** Count of steps per status. */
  counts: Partial<Record<StepStatus, number>>;
  /** As {@link RunState.interrupted}: `running`, but its engine is gone. */
  interrupted?: true;
}

/** Options of {@link Store.listRuns}. */
export interface ListRunsOptions {
  /** At most this many runs. */
  limit?: number;
  /** Only runs with this status. */
  status?: RunStatus;
}

/** A completed step result, reusable by any later step with the same key. */
export interface CacheRecord {
  key: string;
  keyParts: CacheKeyParts;
  /** `<pipeline>/<step id>`: lets `explain` find the previous execution of the same step. */
  scope: string;
  outputs: StepOutputs;
  artifacts: Artifact[];
  runId: string;
  stepId: string;
  createdAt: number;
}

/** Options of {@link Store.readEvents}: which of a run's events to read. */
export interface ReadEventsOptions {
  /** Only events with `seq` greater than this. */
  afterSeq?: number;
  /** Only events of this step. */
  stepId?: string;
  /** Only these types. */
  types?: readonly RunEventType[];
}

/**
 * Which finished runs a store keeps when it collects garbage: a run is collected only when it is not
 * running (nor interrupted), is not among the newest `keepRuns`, and was last updated more than
 * `keepDays` ago. A limit that is not given keeps nothing by itself.
 */
export interface RetentionPolicy {
  /** Keep runs updated within this many days (fractions allowed). */
  keepDays?: number;
  /** Keep the newest this many runs (by creation), whatever their age. */
  keepRuns?: number;
}

/** Options of {@link Store.collectGarbage}. */
export interface CollectGarbageOptions extends RetentionPolicy {
  /** Only report what would be collected. */
  dryRun?: boolean;
}

/** What {@link Store.collectGarbage} collected (or, for a dry run, would collect). */
export interface GarbageReport {
  /** Ids of the collected runs (record, state and events deleted). */
  runs: string[];
  /** Events deleted with them. */
  events: number;
  /** Bytes of storage given back (log text file), or that would be, roughly, for a dry run. */
  reclaimedBytes: number;
  dryRun: boolean;
}

/** Who is driving a run right now. */
export interface RunOwner {
  pid: number;
  host: string;
  /** The host's boot id (Linux): an owner recorded before a reboot is gone whatever its pid. */
  bootId?: string;
  /** The owner's start time (`/proc/<pid>/stat` field 22): tells a reused pid from the owner. */
  startTime?: number;
}

/**
 * Where state lives. The append-only event log per run is the source of truth; run and step state is
 * materialised from it (`reduceRunState`). Every method is safe to call from several processes on the
 * same store (the CLI's `cancel` writes while another process runs).
 */
export interface Store {
  /** A short description (`sqlite:/path/.beamline/beamline.db`, `memory`). */
  readonly description: string;
  createRun(run: RunRecord): Promise<void>;
  getRun(runId: string): Promise<RunRecord | undefined>;
  /** Newest first. */
  listRuns(options?: ListRunsOptions): Promise<RunSummary[]>;
  /**
   * Appends events atomically: all or none. When the promise resolves the events survive a crash of
   * this process (`kill -9`). `seq` values must continue the log without gaps or repeats.
   */
  append(runId: string, events: readonly RunEvent[]): Promise<void>;
  /** Events in `seq` order. */
  readEvents(runId: string, options?: ReadEventsOptions): AsyncIterable<RunEvent>;
  runState(runId: string): Promise<RunState | undefined>;
  getCache(key: string): Promise<CacheRecord | undefined>;
  putCache(record: CacheRecord): Promise<void>;
  /** The newest cache record of a scope created before `before` (epoch ms), for `explain`. */
  previousCache(scope: string, before: number, excludeRunId?: string): Promise<CacheRecord | undefined>;
  /** Asks whoever drives the run to cancel it (idempotent; the first reason wins). */
  requestCancel(runId: string, reason: string): Promise<void>;
  /** The pending cancellation reason of a run, if any. */
  cancelRequested(runId: string): Promise<string | undefined>;
  /**
   * Takes ownership of a run for this process. Fails with `CORE_RUN_ACTIVE` when a live process on the
   * same host owns it (checked with `kill(pid, 0)`); a dead owner's claim is taken over.
   */
  claimRun(runId: string, owner: RunOwner): Promise<void>;
  releaseRun(runId: string, owner: RunOwner): Promise<void>;
  /**
   * Deletes old finished runs (record, state, events) by `options` and gives their storage back; runs
   * that are running or interrupted are never collected. The cache is kept. Optional: stores without it
   * keep everything.
   */
  collectGarbage?(options: CollectGarbageOptions): Promise<GarbageReport>;
  close(): Promise<void>;
}
