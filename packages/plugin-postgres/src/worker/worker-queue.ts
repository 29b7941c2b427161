import type { ProcessEvent, ProcessSpec } from '@beamline/core';
import type { JobFailure, JobStarted } from '../queue/queue-runner.js';
import type { Requirement } from '../queue/requirement.js';

/** A job a worker holds: what to run and the lease it runs under. */
export interface ClaimedJob {
  id: string;
  queue: string;
  /**
   * When the claim was made, on this host's clock and never later than the real claim: the lease runs
   * from no earlier than this, and the worker stops the process before it could have run out.
   */
  claimedAt: number;
  spec: ProcessSpec & { runner: string };
  /** The lease token: every write about the job names it, and is refused once it is not the job's. */
  token: string;
  leaseMs: number;
  runId: string | null;
  stepId: string | null;
}

/** A queue of steps and what a worker needs to take them. */
export interface QueueCandidate {
  name: string;
  requirement: Requirement;
}

/** The reply to a heartbeat: whether the lease is still held, and a cancel request if there is one. */
export interface HeartbeatReply {
  held: boolean;
  cancel: string | null;
}

/** One stdout or stderr chunk of a job's process. */
export interface OutputChunk {
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

/** How a job ends, as its worker reports it: the process exited, it could not run, or it is handed back. */
export type JobEnd =
  | { kind: 'exit'; exit: Extract<ProcessEvent, { type: 'exit' }> }
  | { kind: 'fail'; failure: JobFailure }
  | { kind: 'hand-back' };

/**
 * A worker's whole conversation with the shared queue. Two implementations: {@link PostgresWorkerQueue}
 * (SQL on PostgreSQL, for workers that reach the database) and `HttpWorkerQueue` (HTTPS to a
 * `beamline gateway`, which runs the PostgreSQL one on the worker's behalf). Every write names the job's
 * lease token and answers `false` when it was refused (the lease is lost: another worker has the job);
 * a refused write is counted on the job. A call that throws did not get an answer (the database or the
 * gateway is out of reach) and may be tried again: every write is idempotent.
 */
export interface WorkerQueue {
  /** A description for messages (`postgres:…`, `https://…`), without secrets. */
  readonly description: string;
  /** Every queue with its requirement: the worker keeps those it can serve. */
  candidates(): Promise<QueueCandidate[]>;
  /**
   * Takes the leases of up to `room` queued jobs of `queue`, atomically (another worker cannot take the
   * same job); may return fewer or none.
   */
  claim(queue: string, room: number, worker: string): Promise<ClaimedJob[]>;
  /** Renews the job's lease; the reply carries a cancel request. */
  heartbeat(job: ClaimedJob): Promise<HeartbeatReply>;
  /** Records what started (pid, host, GPU ids). */
  started(job: ClaimedJob, started: JobStarted): Promise<boolean>;
  /** Appends output chunks numbered from `first` (a chunk number written twice is kept once). */
  output(job: ClaimedJob, first: number, chunks: readonly OutputChunk[]): Promise<boolean>;
  /** Ends the job: its exit, a failure, or handed back (retried elsewhere at once). */
  end(job: ClaimedJob, end: JobEnd): Promise<boolean>;
  /**
   * Called when new work may be there (`''` or a queue name); returns the unsubscribe. A queue without
   * notifications (the HTTPS one) waits for work inside {@link claimAll} instead.
   */
  onWork(listener: (queue: string) => void): () => void;
  /** Called with a job's id when a cancel request may be there for it (`''`: any job); returns the unsubscribe. */
  onCancel(listener: (jobId: string) => void): () => void;
  /**
   * How often a held job's heartbeat runs at most (ms): a queue without cancel notifications beats more
   * often than a third of the lease so that a cancel reaches the process within seconds.
   */
  readonly heartbeatMs?: number;
  /**
   * When defined, the worker hands all its served queues at once, and the call waits (long polling) up
   * to `waitMs` for work before it answers empty; the worker does not sleep between such calls.
   * `queuesChanged`: it answered early because a queue the worker did not name got work (a new
   * requirement): the worker reads the queues again. Aborting `signal` gives up the wait (the worker
   * stops); a job claimed for it meanwhile is handed back by the gateway.
   */
  claimAll?(
    queues: readonly string[],
    room: number,
    worker: string,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<{ jobs: ClaimedJob[]; queuesChanged: boolean }>;
}
