import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type {
  ExecOptions,
  ProcessEvent,
  ProcessFiles,
  ProcessSpec,
  Runner,
  RunnerIdentityRequest,
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
import { CANCEL_CHANNEL, JOB_CHANNEL, QUEUE_CHANNEL, type QueueConnection } from './queue-connection.js';
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

/** A job's row as the coordinator reads it. */
interface JobRow {
  state: string;
  worker: string | null;
  started: string | null;
  exit: string | null;
  error: string | null;
  expired: boolean;
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
      await retryTransient(() => this.#enqueue(), patience);
      const onAbort = (): void => this.#wakeUp();
      this.signal?.addEventListener('abort', onAbort, { once: true });
      this.#stopListening.push(() => this.signal?.removeEventListener('abort', onAbort));
      this.#stopListening.push(
        this.connection.on(JOB_CHANNEL, (payload) => {
          if (payload === this.id || payload === '') this.#wakeUp();
        }),
      );
      while (!this.#done) {
        await retryTransient(() => this.#step(), patience);
        if (this.#done) break;
        await this.#sleep();
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
    await this.connection.pool.query(
      `INSERT INTO ${this.connection.schema}.jobs (id, queue, run_id, step_id, spec, state, lease_ms)
       VALUES ($1, $2, $3, $4, $5, 'queued', $6) ON CONFLICT (id) DO NOTHING`,
      [
        this.id,
        queue,
        this.spec.labels?.['beamline.run'] ?? null,
        this.spec.labels?.['beamline.step'] ?? null,
        JSON.stringify({ ...spec, ...(this.#files && { files: this.#files }), runner: this.runner }),
        this.options.leaseMs,
      ],
    );
    await this.connection.boss.send(queue, { jobId: this.id });
    this.connection.notify(QUEUE_CHANNEL, queue);
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
    const row = await this.#read();
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
    // Output is written before the exit: once the row says `exited`, this read passes on all of it.
    if (this.#startedSent || row.state === 'exited') await this.#passOutput();
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

  async #read(): Promise<JobRow> {
    const { rows } = await this.connection.pool.query<JobRow>(
      `SELECT state, worker, started, exit, error, (lease_expires < now()) AS expired
       FROM ${this.connection.schema}.jobs WHERE id = $1`,
      [this.id],
    );
    const row = rows[0];
    if (row === undefined) {
      throw new PostgresError('POSTGRES_QUERY_FAILED', `job ${this.id} disappeared from the queue tables`);
    }
    return row;
  }

  async #passOutput(): Promise<void> {
    for (;;) {
      const { rows } = await this.connection.pool.query<{ n: number; stream: string; data: Buffer }>(
        `SELECT n, stream, data FROM ${this.connection.schema}.job_output
         WHERE job_id = $1 AND n > $2 ORDER BY n LIMIT 200`,
        [this.id, this.#outputN],
      );
      for (const row of rows) {
        this.#outputN = row.n;
        this.subscriber.next({ type: row.stream === 'stderr' ? 'stderr' : 'stdout', data: row.data });
      }
      if (rows.length < 200) return;
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
