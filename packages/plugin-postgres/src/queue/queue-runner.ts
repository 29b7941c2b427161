import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type {
  ExecOptions,
  ProcessEvent,
  ProcessFiles,
  ProcessSpec,
  Runner,
  RunnerIdentityRequest,
  RunOwner,
  StepProcess,
} from '@beamline/core';
import { Observable, type Subscriber } from 'rxjs';
import {
  noShareForReport,
  type CoordinatorArtifacts,
  type StagedExit,
} from '../artifacts/coordinator-artifacts.js';
import { retryTransient } from '../database/connect.js';
import { PostgresError } from '../errors/postgres-error.js';
import { JobBatches, OUTPUT_PAGE, type JobOutputChunk, type JobRead, type JobRow } from './job-batches.js';
import { CANCEL_CHANNEL, JOB_CHANNEL, type QueueConnection } from './queue-connection.js';
import { requirementOf } from './requirement.js';
import { Wakeup } from './wakeup.js';

/** Options of the coordinator's side of the queue. */
export interface QueueRunnerOptions {
  /** How long a worker holds a step without a heartbeat before it is given to another (ms). */
  leaseMs: number;
  /** How often the coordinator looks at a job when no notification comes (ms). */
  pollMs: number;
  /** The artifact share, for workers that do not have the run's folder (inputs up, outputs back). */
  artifacts?: CoordinatorArtifacts;
}

/** What a worker reports when its process started. */
export interface JobStarted {
  pid?: number;
  containerId?: string;
  host: string;
  worker: string;
  gpus: string[];
  /**
   * The process as core records it (pid, process group, host, boot id, start time): a worker on the same
   * host stops it if this job's worker dies and leaves it running (see `OrphanReaper`).
   */
  process?: StepProcess;
  /**
   * The worker's own process (pid, host, boot id, start time): once it is gone, a worker on the same host
   * knows the job's lease is lost without waiting for it to run out.
   */
  workerProcess?: RunOwner;
}

/** A failure a worker reports instead of an exit (the process could not start, the folder is missing). */
export interface JobFailure {
  code: string;
  message: string;
  retryable: boolean;
}

/**
 * The runner the engine uses in distributed mode in place of the runner a step names (`local`,
 * `docker`): `exec` enqueues the process spec through pg-boss for a worker that has that runner, the
 * step's capability labels (`runs-on`) and room for its resource request, then follows the job: the
 * worker's `started`, its output and its exit come back as this runner's events.
 *
 * The lease: a worker heartbeats; when the lease runs out (a dead worker, a lost network) the job is
 * marked lost and this attempt fails with `POSTGRES_LEASE_LOST` (retryable), so the engine retries the
 * step under its retry policy with a new job, which another worker takes. The old worker can no longer
 * write anything for the job (every write names its lease), so its late result is refused. Aborting the
 * signal records a cancel request, which the worker reads in its heartbeat reply and stops the process.
 */
export class QueueRunner implements Runner {
  readonly placement = 'remote' as const;

  constructor(
    private readonly inner: Runner,
    private readonly connection: () => QueueConnection,
    private readonly options: QueueRunnerOptions,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  /** Workers on many hosts run the step: the identity is the runner kind (and image), not a host. */
  identity(request: RunnerIdentityRequest): Promise<string> {
    return Promise.resolve(
      `queue:${this.inner.name}${request.image === undefined ? '' : `:${request.image}`}`,
    );
  }

  exec(spec: ProcessSpec, options: ExecOptions = {}): Observable<ProcessEvent> {
    return new Observable<ProcessEvent>((subscriber) => {
      const job = new RemoteJob(
        this.connection(),
        this.inner.name,
        spec,
        options.signal,
        this.options,
        subscriber,
      );
      void job.follow();
      return () => job.unsubscribed();
    });
  }
}

/** The batched job statements of each connection (one per coordinator process and queue). */
const batches = new WeakMap<QueueConnection, JobBatches>();

function batchesOf(connection: QueueConnection): JobBatches {
  let found = batches.get(connection);
  if (found === undefined) batches.set(connection, (found = new JobBatches(connection)));
  return found;
}

/** One job from enqueue to exit, as seen by the coordinator. */
class RemoteJob {
  readonly id = randomUUID();
  /** The step's files as queued: every input with its digest (with an artifact share). */
  #files: ProcessFiles | undefined;
  #outputN = 0;
  #startedSent = false;
  #cancelSent = false;
  #done = false;
  readonly #wakeup = new Wakeup();
  readonly #stopListening: Array<() => void> = [];

  constructor(
    private readonly connection: QueueConnection,
    private readonly runner: string,
    private readonly spec: ProcessSpec,
    private readonly signal: AbortSignal | undefined,
    private readonly options: QueueRunnerOptions,
    private readonly subscriber: Subscriber<ProcessEvent>,
  ) {}

  async follow(): Promise<void> {
    try {
      // A restarting server costs latency, not the attempt: transient failures are tried again for up to
      // three lease lengths (a worker's lease outlives that only if the worker could reach the server).
      const patience = 3 * this.options.leaseMs;
      // With an artifact share, the step's inputs go there first, for a worker without the run's folder.
      this.#files = await this.options.artifacts?.publishInputs(this.spec.files, this.signal);
      // Listening before the job exists: no change of it can go unnoticed, so there is nothing to read
      // until a notification (or the fallback poll, or an abort) comes.
      const onAbort = (): void => this.#wakeUp();
      this.signal?.addEventListener('abort', onAbort, { once: true });
      this.#stopListening.push(() => this.signal?.removeEventListener('abort', onAbort));
      this.#stopListening.push(
        this.connection.on(JOB_CHANNEL, (payload) => {
          if (payload === this.id || payload === '') this.#wakeUp();
        }),
      );
      await retryTransient(() => this.#enqueue(), patience);
      while (!this.#done) {
        // An abort not yet passed on is passed on at once; otherwise wait for news of the job.
        if (this.signal?.aborted !== true || this.#cancelSent) await this.#sleep();
        if (this.#done) break;
        await retryTransient(() => this.#step(), patience);
      }
    } catch (error) {
      this.#finish(() => this.subscriber.error(error));
    }
  }

  /** The subscriber went away before the end: the work must stop too (best effort). */
  unsubscribed(): void {
    if (this.#done) return;
    this.#done = true;
    this.#cleanup();
    this.#wakeUp();
    void this.#requestCancel('the step was cut off').catch(() => undefined);
  }

  async #enqueue(): Promise<void> {
    const requirement = requirementOf(this.runner, this.spec.request);
    const queue = await this.connection.ensureQueue(requirement);
    // The worker grants resources from its own pool; what this host would have granted means nothing there.
    const { resources: _granted, ...spec } = this.spec;
    // With the other steps that became ready in this turn: one statement for their rows, one for their
    // pg-boss messages, one notification per queue.
    await batchesOf(this.connection).enqueue({
      id: this.id,
      queue,
      runId: this.spec.labels?.['beamline.run'] ?? null,
      stepId: this.spec.labels?.['beamline.step'] ?? null,
      spec: JSON.stringify({ ...spec, ...(this.#files && { files: this.#files }), runner: this.runner }),
      leaseMs: this.options.leaseMs,
    });
  }

  /** One look at the job: cancel if asked, pass on new output, then its start and its end. */
  async #step(): Promise<void> {
    if (this.signal?.aborted && !this.#cancelSent) {
      this.#cancelSent = true;
      if (await this.#requestCancel(reasonText(this.signal.reason))) {
        // It had not been claimed: nothing runs anywhere.
        this.#finish(() => {
          this.subscriber.next({
            type: 'exit',
            code: null,
            signal: null,
            oomKilled: false,
            reason: 'cancelled',
          });
          this.subscriber.complete();
        });
        return;
      }
    }
    // The row and its new output in one statement, batched with the reads of other jobs in this turn.
    const { row, output } = await this.#read();
    if (row.started !== null && !this.#startedSent) {
      this.#startedSent = true;
      const started = JSON.parse(row.started) as JobStarted;
      this.subscriber.next({
        type: 'started',
        jobId: this.id,
        node: started.host,
        gpus: started.gpus,
        // A pid means something only on its own host: the engine records a `started` pid as a process of
        // this host (to stop it after a crash), so one from another host is left out.
        ...(started.pid === undefined || started.host !== hostname() ? {} : { pid: started.pid }),
        ...(started.containerId === undefined ? {} : { containerId: started.containerId }),
      });
    }
    // Output is written before the exit, and the row and the output come from one snapshot: once the row
    // says `exited`, this read (and the pages after it) passes on all of it.
    if (this.#startedSent || row.state === 'exited') await this.#passOutput(output);
    switch (row.state) {
      case 'exited': {
        const { files, ...exit } = JSON.parse(row.exit ?? '{}') as StagedExit;
        if (files !== undefined && !(await this.#receive(files, row.worker))) return;
        this.#finish(() => {
          this.subscriber.next({ ...exit, type: 'exit' });
          this.subscriber.complete();
        });
        // All of it was read above: none passed on means none was written.
        if (this.#outputN > 0) await this.#dropOutput();
        return;
      }
      case 'failed': {
        const failure = JSON.parse(row.error ?? '{}') as JobFailure;
        if (failure.code?.startsWith('POSTGRES_ARTIFACT_')) this.options.artifacts?.forgetInputs(this.#files);
        this.#finish(() =>
          this.subscriber.error(
            new PostgresError('POSTGRES_WORKER_FAILED', `worker ${row.worker ?? '?'}: ${failure.message}`, {
              retryable: failure.retryable,
              details: { jobId: this.id, worker: row.worker, workerCode: failure.code },
            }),
          ),
        );
        await this.#dropOutput();
        return;
      }
      case 'cancelled':
        this.#finish(() => {
          this.subscriber.next({
            type: 'exit',
            code: null,
            signal: null,
            oomKilled: false,
            reason: 'cancelled',
          });
          this.subscriber.complete();
        });
        return;
      case 'running':
        if (row.expired && (await this.#expire())) this.#lost(row.worker);
        return;
      case 'lost':
        this.#lost(row.worker);
        return;
    }
  }

  /**
   * Fetches the outputs a worker without the run's folder put on the share into the run's folder, before
   * the exit is passed on; false when that failed (the attempt fails with the reason).
   */
  async #receive(files: unknown, worker: string | null): Promise<boolean> {
    try {
      const { artifacts } = this.options;
      if (artifacts === undefined) throw noShareForReport(worker ?? '?');
      await artifacts.receiveOutputs(this.spec.files, files, worker ?? '?', this.signal);
      return true;
    } catch (error) {
      this.#finish(() => this.subscriber.error(error));
      await this.#dropOutput();
      return false;
    }
  }

  async #read(): Promise<JobRead & { row: JobRow }> {
    const read = await batchesOf(this.connection).read(this.id, this.#outputN);
    if (read.row === undefined) {
      throw new PostgresError('POSTGRES_QUERY_FAILED', `job ${this.id} disappeared from the queue tables`);
    }
    return { row: read.row, output: read.output };
  }

  /** Passes on the output read with the row, and the pages after it while a page was full. */
  async #passOutput(first: readonly JobOutputChunk[]): Promise<void> {
    let page = first;
    for (;;) {
      for (const chunk of page) {
        if (chunk.n <= this.#outputN) continue;
        this.#outputN = chunk.n;
        this.subscriber.next({ type: chunk.stream === 'stderr' ? 'stderr' : 'stdout', data: chunk.data });
      }
      if (page.length < OUTPUT_PAGE) return;
      page = (await this.#read()).output;
    }
  }

  async #dropOutput(): Promise<void> {
    await this.connection.pool
      .query(`DELETE FROM ${this.connection.schema}.job_output WHERE job_id = $1`, [this.id])
      .catch(() => undefined);
  }

  /** Marks a running job whose lease ran out as lost; true when this call did it. */
  async #expire(): Promise<boolean> {
    const result = await this.connection.pool.query(
      `UPDATE ${this.connection.schema}.jobs SET state = 'lost', updated_at = now()
       WHERE id = $1 AND state = 'running' AND lease_expires < now()`,
      [this.id],
    );
    return result.rowCount === 1;
  }

  #lost(worker: string | null): void {
    this.#finish(() =>
      this.subscriber.error(
        new PostgresError(
          'POSTGRES_LEASE_LOST',
          `worker ${worker ?? '?'} stopped renewing its lease on job ${this.id} (dead, or cut off from the database for more than ${this.options.leaseMs} ms); anything it reports for this job from now on is refused`,
          { details: { jobId: this.id, worker, leaseMs: this.options.leaseMs } },
        ),
      ),
    );
  }

  /**
   * Records a cancel request for the worker's next heartbeat; a job nobody claimed yet is cancelled
   * outright (returns true then).
   */
  async #requestCancel(reason: string): Promise<boolean> {
    const { schema, pool } = this.connection;
    const result = await pool.query<{ state: string }>(
      `UPDATE ${schema}.jobs SET cancel_reason = COALESCE(cancel_reason, $2),
         state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END, updated_at = now()
       WHERE id = $1 RETURNING state`,
      [this.id, reason],
    );
    this.connection.notify(CANCEL_CHANNEL, this.id);
    return result.rows[0]?.state === 'cancelled';
  }

  #finish(emit: () => void): void {
    if (this.#done) return;
    this.#done = true;
    this.#cleanup();
    emit();
  }

  #cleanup(): void {
    for (const stop of this.#stopListening.splice(0)) stop();
  }

  #wakeUp(): void {
    this.#wakeup.wake();
  }

  #sleep(): Promise<void> {
    return this.#wakeup.sleep(this.options.pollMs);
  }
}

function reasonText(reason: unknown): string {
  if (reason instanceof Error) return reason.message;
  return typeof reason === 'string' ? reason : 'cancelled';
}
