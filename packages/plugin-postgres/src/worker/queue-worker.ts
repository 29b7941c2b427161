import { randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  backoffDelay,
  isBeamlineError,
  recordProcesses,
  type Lease,
  type ProcessEvent,
  type ProcessSpec,
  type ResourcePool,
  type RunnerLookup,
} from '@beamline/core';
import type { Observable } from 'rxjs';
import {
  CANCEL_CHANNEL,
  JOB_CHANNEL,
  QUEUE_CHANNEL,
  type QueueConnection,
} from '../queue/queue-connection.js';
import type { JobFailure, JobStarted } from '../queue/queue-runner.js';
import { labelsSatisfy, type LabelSet, type Requirement } from '../queue/requirement.js';
import { Wakeup } from '../queue/wakeup.js';

/** Options of a {@link QueueWorker}. */
export interface QueueWorkerOptions {
  connection: QueueConnection;
  /** This host's runners (`local`, `docker`, …): a job names the one it runs with. */
  runners: RunnerLookup;
  /** This host's resource pool: CPUs, memory and GPU ids are granted from it. */
  pool: ResourcePool;
  /** Capability labels this worker offers (`gpu=a100`, `docker`). */
  labels: LabelSet;
  /** Most jobs at once (default 1). */
  concurrency?: number;
  /** How often to look for work when no notification comes (ms, default 1,000). */
  pollMs?: number;
  /** A name for this worker in the job rows and messages (default `<host>:<pid>:<random>`). */
  name?: string;
  /** What the worker does, one line each (claims, ends, refused results). */
  onMessage?: (message: string) => void;
}

/** The job fields a worker reads when it claims one. */
interface ClaimedJob {
  id: string;
  queue: string;
  /** When the claim was sent (this host's clock): the lease runs from no earlier than this. */
  claimedAt: number;
  spec: ProcessSpec & { runner: string };
  token: string;
  leaseMs: number;
  runId: string | null;
  stepId: string | null;
}

/** How long a worker leaves a queue to others after it could not reach a job's folder. */
const PAUSE_AFTER_MISSING_FOLDER_MS = 30_000;

/** The abort reason of jobs a stopping worker hands back. */
const STOPPING = new Error('the worker is stopping');

/** How many output bytes a job keeps before it writes them (also written every {@link FLUSH_MS}). */
const FLUSH_BYTES = 256 * 1024;
const FLUSH_MS = 100;

/**
 * A worker of the distributed mode: takes steps from the queues it can serve (its runners, its
 * capability labels, room in its resource pool for the request), atomically (pg-boss's `SKIP LOCKED`
 * fetch, then a conditional update of the job row that only one worker can win), and runs each with its
 * own runner and pool. It renews each job's lease by heartbeat; the heartbeat reply carries a cancel
 * request, on which it stops the process. Output and the exit are written under the lease: once the
 * lease is lost (this worker was too slow to renew, the coordinator gave the job to another), every
 * write is refused, the local process is stopped, and its result is dropped.
 */
export class QueueWorker {
  readonly name: string;
  readonly #options: QueueWorkerOptions;
  readonly #active = new Set<Promise<void>>();
  readonly #jobs = new Map<string, AbortController>();
  #running = false;
  #loop: Promise<void> | undefined;
  readonly #wakeup = new Wakeup();
  #queues: { at: number; names: string[] } = { at: 0, names: [] };
  #next = 0;
  #stopListening: (() => void) | undefined;
  /** Queues this worker leaves to others for a while (it could not reach a job's folder: the share is missing). */
  readonly #paused = new Map<string, number>();

  constructor(options: QueueWorkerOptions) {
    this.#options = options;
    this.name = options.name ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  }

  /** Starts taking work. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#stopListening = this.#options.connection.on(QUEUE_CHANNEL, (queue) => {
      // A queue this worker has not seen yet: read the list again now rather than at the next refresh.
      if (queue !== '' && !this.#queues.names.includes(queue))
        this.#queues = { at: 0, names: this.#queues.names };
      this.#wakeUp();
    });
    this.#loop = this.#run();
  }

  /**
   * Stops taking work; jobs still running are stopped and handed back at once (marked lost, so the
   * coordinator retries them elsewhere without waiting for the lease to run out).
   */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#stopListening?.();
    this.#wakeUp();
    await this.#loop;
    for (const controller of this.#jobs.values()) controller.abort(STOPPING);
    await Promise.allSettled([...this.#active]);
  }

  /** How many jobs run now. */
  get activeJobs(): number {
    return this.#active.size;
  }

  async #run(): Promise<void> {
    const concurrency = Math.max(1, this.#options.concurrency ?? 1);
    while (this.#running) {
      let claimed: ClaimedJob[] = [];
      const room = concurrency - this.#active.size;
      if (room > 0) {
        try {
          claimed = await this.#claimNext(room);
        } catch (error) {
          this.#say(`cannot claim work: ${(error as Error).message}`);
        }
      }
      for (const job of claimed) {
        const done = this.#runJob(job).catch((error: unknown) =>
          this.#say(`job ${job.id}: ${(error as Error).message}`),
        );
        this.#active.add(done);
        void done.finally(() => {
          this.#active.delete(done);
          this.#wakeUp();
        });
      }
      if (claimed.length > 0) continue;
      await this.#sleep(this.#options.pollMs ?? 1_000);
    }
  }

  /** The queues whose requirement this worker meets (re-read every few seconds). */
  async #servedQueues(): Promise<string[]> {
    if (Date.now() - this.#queues.at < 2_000) return this.#queues.names;
    const all = await this.#options.connection.queues();
    const names = all.filter(({ requirement }) => this.#serves(requirement)).map(({ name }) => name);
    this.#queues = { at: Date.now(), names };
    return names;
  }

  #serves(requirement: Requirement): boolean {
    if (!this.#options.runners.has(requirement.runner)) return false;
    if (!labelsSatisfy(this.#options.labels, requirement.labels)) return false;
    try {
      this.#options.pool.effective({
        cpus: requirement.cpus,
        memoryMb: requirement.memoryMb,
        gpus: requirement.gpus,
        gpuOptional: requirement.gpuOptional,
      });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Fetches up to `room` jobs from the served queues in turn (one fetch per queue for as many as there
   * is room for), takes their leases at once and confirms their delivery in one call; returns the jobs
   * this worker won.
   */
  async #claimNext(room: number): Promise<ClaimedJob[]> {
    const names = await this.#servedQueues();
    const { boss } = this.#options.connection;
    const won: ClaimedJob[] = [];
    for (let i = 0; i < names.length && won.length < room; i++) {
      const queue = names[(this.#next + i) % names.length]!;
      if ((this.#paused.get(queue) ?? 0) > Date.now()) continue;
      const fetched = await boss.fetch<{ jobId: string }>(queue, { batchSize: room - won.length });
      if (fetched.length === 0) continue;
      this.#next = (this.#next + i + 1) % names.length;
      const claims = await Promise.allSettled(fetched.map((job) => this.#claim(job.data.jobId, queue)));
      // A delivery whose claim was answered is done: the lease (or a cancelled job) decides from here. One
      // whose claim failed (the database went away) stays with pg-boss, which delivers it again after its
      // expiry; so does every one here if confirming fails (a second claim of a job is refused).
      const answered = fetched.filter((_, n) => claims[n]!.status === 'fulfilled').map((job) => job.id);
      if (answered.length > 0) {
        await boss
          .complete(queue, answered)
          .catch((error: unknown) =>
            this.#say(`cannot confirm ${answered.length} deliveries: ${(error as Error).message}`),
          );
      }
      for (const claim of claims) {
        if (claim.status === 'fulfilled') {
          if (claim.value !== undefined) won.push(claim.value);
        } else if (won.length === 0 && answered.length === 0) {
          throw claim.reason;
        } else {
          this.#say(`cannot claim a job: ${(claim.reason as Error).message}`);
        }
      }
    }
    return won;
  }

  /** Takes the lease of a queued job; undefined when another worker has it or it was cancelled. */
  async #claim(jobId: string, queue: string): Promise<ClaimedJob | undefined> {
    const { pool, schema } = this.#options.connection;
    const token = randomUUID();
    const claimedAt = Date.now();
    const { rows } = await pool.query<{
      spec: string;
      lease_ms: number;
      run_id: string | null;
      step_id: string | null;
    }>(
      // The notification goes in the same statement: one round trip per claim.
      `WITH claimed AS (
         UPDATE ${schema}.jobs SET state = 'running', worker = $2, lease_token = $3, claims = claims + 1,
           lease_expires = now() + lease_ms * interval '1 millisecond', updated_at = now()
         WHERE id = $1 AND state = 'queued' RETURNING id, spec, lease_ms, run_id, step_id
       )
       SELECT spec, lease_ms, run_id, step_id, pg_notify('${JOB_CHANNEL}', id) FROM claimed`,
      [jobId, this.name, token],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    return {
      id: jobId,
      queue,
      claimedAt,
      spec: JSON.parse(row.spec) as ClaimedJob['spec'],
      token,
      leaseMs: row.lease_ms,
      runId: row.run_id,
      stepId: row.step_id,
    };
  }

  async #runJob(job: ClaimedJob): Promise<void> {
    const what = `job ${job.id}${job.stepId === null ? '' : ` (step ${job.stepId} of run ${job.runId ?? '?'})`}`;
    this.#say(`claimed ${what}`);
    const controller = new AbortController();
    this.#jobs.set(job.id, controller);
    const writer = new JobWriter(this.#options.connection, job);
    const heartbeat = new Heartbeat(this.#options.connection, job, controller, (message) =>
      this.#say(message),
    );
    let lease: Lease | undefined;
    try {
      const { runner: runnerName, request, ...spec } = job.spec;
      const cwd = spec.cwd;
      if (cwd !== undefined && !isFolder(cwd)) {
        await writer.fail({
          code: 'POSTGRES_WORKDIR_UNREACHABLE',
          message: `the run's folder ${cwd} is not reachable on ${hostname()}: inputs and outputs live on a shared path that every worker must mount at the same place`,
          retryable: true,
        });
        // Its retry, and the queue's other jobs, are for workers that have the share.
        this.#paused.set(job.queue, Date.now() + PAUSE_AFTER_MISSING_FOLDER_MS);
        return;
      }
      const runner = this.#options.runners.require(runnerName);
      lease = await this.#options.pool.acquire(request ?? {}, controller.signal, job.stepId ?? job.id);
      const started: Omit<JobStarted, 'pid' | 'containerId'> = {
        host: hostname(),
        worker: this.name,
        gpus: [...lease.grant.gpus],
      };
      // The process as core records a step's (group, boot id, start time) goes with `started`: if this
      // worker dies, a worker on this host stops it (OrphanReaper).
      const recording = recordProcesses(runner, (process) => (started.process = process));
      const outcome = await this.#exec(
        recording.exec({ ...spec, resources: lease.grant }, { signal: controller.signal }),
        writer,
        started,
        () => controller.signal.reason === STOPPING,
      );
      if (outcome === 'refused' || heartbeat.lost) {
        this.#say(`${what}: the lease was lost; its result is refused and dropped`);
      } else {
        this.#say(`${what} ended`);
      }
    } catch (error) {
      if (heartbeat.lost) {
        this.#say(`${what}: the lease was lost; its result is refused and dropped`);
        return;
      }
      const failure: JobFailure = {
        code: isBeamlineError(error) ? error.code : 'POSTGRES_WORKER_FAILED',
        message: (error as Error).message,
        retryable: isBeamlineError(error) ? error.retryable : true,
      };
      await writer.fail(failure).catch(() => undefined);
    } finally {
      heartbeat.stop();
      lease?.release();
      this.#jobs.delete(job.id);
      if (!this.#running && !writer.finished) await writer.handBack().catch(() => undefined);
    }
  }

  /** Runs the process, writing what it says under the lease; `refused` once a write was refused. */
  #exec(
    events: Observable<ProcessEvent>,
    writer: JobWriter,
    started: Omit<JobStarted, 'pid' | 'containerId'>,
    stopping: () => boolean,
  ): Promise<'done' | 'refused'> {
    return new Promise((resolve, reject) => {
      events.subscribe({
        next: (event) => {
          switch (event.type) {
            case 'started':
              writer.started({
                ...started,
                ...(event.pid === undefined ? {} : { pid: event.pid }),
                ...(event.containerId === undefined ? {} : { containerId: event.containerId }),
              });
              return;
            case 'stdout':
            case 'stderr':
              writer.output(event.type, event.data);
              return;
            case 'exit':
              // A worker that is stopping hands the job back instead of reporting the stop as its end.
              if (!stopping()) writer.exit(event);
              return;
          }
        },
        error: (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
        complete: () => {
          writer.settled().then(
            (accepted) => resolve(accepted ? 'done' : 'refused'),
            (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
          );
        },
      });
    });
  }

  #say(message: string): void {
    this.#options.onMessage?.(`[worker ${this.name}] ${message}`);
  }

  #wakeUp(): void {
    this.#wakeup.wake();
  }

  #sleep(ms: number): Promise<void> {
    return this.#wakeup.sleep(ms);
  }
}

function isFolder(path: string): boolean {
  try {
    return existsSync(path) && statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Renews a job's lease every third of its length; the reply says whether the job is still this worker's
 * and whether the coordinator asks to cancel it. A lost lease or a cancel request aborts the job's signal.
 */
class Heartbeat {
  lost = false;
  readonly #timer: NodeJS.Timeout;

  constructor(
    private readonly connection: QueueConnection,
    private readonly job: ClaimedJob,
    private readonly controller: AbortController,
    private readonly say: (message: string) => void,
  ) {
    this.#timer = setInterval(() => void this.#beat(), Math.max(50, Math.floor(job.leaseMs / 3)));
    // A cancel request is read at once; the job's own changes (this worker's writes) need no heartbeat.
    this.#listen = connection.on(CANCEL_CHANNEL, (payload) => {
      if (payload === job.id || payload === '') void this.#beat();
    });
    this.#fenceFrom(job.claimedAt);
  }

  readonly #listen: () => void;
  #beating = false;
  #fence: NodeJS.Timeout | undefined;

  stop(): void {
    clearInterval(this.#timer);
    clearTimeout(this.#fence);
    this.#listen();
  }

  /**
   * Fencing: if the lease renewed at `renewedAt` (this host's clock, taken before the renewal was sent, so
   * never later than the database's) is not renewed again, the job becomes another worker's once it runs
   * out. The process is stopped just before that, rather than let two copies run side by side.
   */
  #fenceFrom(renewedAt: number): void {
    clearTimeout(this.#fence);
    const margin = Math.min(1_000, Math.floor(this.job.leaseMs / 10));
    this.#fence = setTimeout(
      () => {
        if (this.controller.signal.aborted) return;
        this.lost = true;
        this.say(
          `job ${this.job.id}: lease not renewed for ${this.job.leaseMs} ms (database out of reach); stopping its process`,
        );
        this.controller.abort(new Error('lease expired'));
      },
      Math.max(0, renewedAt + this.job.leaseMs - margin - Date.now()),
    );
  }

  async #beat(): Promise<void> {
    if (this.controller.signal.aborted) return;
    if (this.#beating) return;
    this.#beating = true;
    const started = Date.now();
    try {
      const { schema, pool } = this.connection;
      const { rows } = await pool.query<{ cancel_reason: string | null }>(
        `UPDATE ${schema}.jobs SET lease_expires = now() + lease_ms * interval '1 millisecond'
         WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING cancel_reason`,
        [this.job.id, this.job.token],
      );
      const row = rows[0];
      if (row !== undefined) this.#fenceFrom(started);
      if (row === undefined) {
        this.lost = true;
        this.say(`job ${this.job.id}: lease lost; stopping its process`);
        this.controller.abort(new Error('lease lost'));
      } else if (row.cancel_reason !== null) {
        this.say(`job ${this.job.id}: cancel requested (${row.cancel_reason}); stopping its process`);
        this.controller.abort(new Error(row.cancel_reason));
      }
    } catch (error) {
      // The database is out of reach: keep the process running and try again; the coordinator gives the
      // job to another worker only once the lease has run out, and then this worker's writes are refused.
      this.say(`job ${this.job.id}: heartbeat failed (${(error as Error).message}); retrying`);
    } finally {
      this.#beating = false;
    }
  }
}

/**
 * Writes a job's start, output and end in order, each under the job's lease token: a write after the
 * lease was lost changes nothing and is counted as refused on the job row.
 */
class JobWriter {
  finished = false;
  #chain: Promise<boolean> = Promise.resolve(true);
  #accepted = true;
  #n = 0;
  #buffer: Array<{ stream: string; data: Buffer }> = [];
  #bytes = 0;
  #flushTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly connection: QueueConnection,
    private readonly job: ClaimedJob,
  ) {}

  started(started: JobStarted): void {
    this.#enqueue(() => this.#update(`started = $3`, [JSON.stringify(started)]));
  }

  output(stream: 'stdout' | 'stderr', data: Buffer): void {
    this.#buffer.push({ stream, data });
    this.#bytes += data.length;
    if (this.#bytes >= FLUSH_BYTES) this.#flush();
    else this.#flushTimer ??= setTimeout(() => this.#flush(), FLUSH_MS);
  }

  exit(event: Extract<ProcessEvent, { type: 'exit' }>): void {
    this.#flush();
    this.finished = true;
    this.#enqueue(() => this.#update(`state = 'exited', exit = $3`, [JSON.stringify(event)]));
  }

  fail(failure: JobFailure): Promise<boolean> {
    this.#flush();
    this.finished = true;
    this.#enqueue(() => this.#update(`state = 'failed', error = $3`, [JSON.stringify(failure)]));
    return this.settled();
  }

  /** Gives a job this worker stops holding back at once (marked lost, so it is retried elsewhere). */
  handBack(): Promise<boolean> {
    this.finished = true;
    this.#enqueue(() => this.#update(`state = 'lost'`, []));
    return this.settled();
  }

  /** Resolves once everything so far is written: true when every write was accepted. */
  async settled(): Promise<boolean> {
    this.#flush();
    await this.#chain;
    return this.#accepted;
  }

  #flush(): void {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#buffer.length === 0) return;
    const chunks = this.#buffer;
    this.#buffer = [];
    this.#bytes = 0;
    const first = this.#n + 1;
    this.#n += chunks.length;
    this.#enqueue(async () => {
      const { schema, pool } = this.connection;
      // Written again after a lost reply (a restarted server), the same chunk numbers change nothing.
      const { rows } = await pool.query<{ held: boolean }>(
        `WITH lease AS (
           SELECT 1 FROM ${schema}.jobs WHERE id = $1 AND lease_token = $2 AND state = 'running' FOR SHARE
         ), written AS (
           INSERT INTO ${schema}.job_output (job_id, n, stream, data)
           SELECT $1, $3::int + ordinality::int - 1, stream, data
           FROM unnest($4::text[], $5::bytea[]) WITH ORDINALITY AS t(stream, data)
           WHERE EXISTS (SELECT 1 FROM lease)
           ON CONFLICT (job_id, n) DO NOTHING RETURNING 1
         )
         SELECT EXISTS (SELECT 1 FROM lease) AS held, (SELECT count(*) FROM written) AS n`,
        [this.job.id, this.job.token, first, chunks.map((c) => c.stream), chunks.map((c) => c.data)],
      );
      const ok = rows[0]?.held === true;
      if (ok) this.connection.notify(JOB_CHANNEL, this.job.id);
      else await this.#countRefused();
      return ok;
    });
  }

  async #update(set: string, values: unknown[]): Promise<boolean> {
    const { schema, pool } = this.connection;
    // The notification goes in the same statement: one round trip per write.
    const result = await pool.query(
      `WITH updated AS (
         UPDATE ${schema}.jobs SET ${set}, updated_at = now()
         WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING id
       )
       SELECT pg_notify('${JOB_CHANNEL}', id) FROM updated`,
      [this.job.id, this.job.token, ...values],
    );
    const ok = result.rowCount === 1;
    if (!ok) await this.#countRefused();
    return ok;
  }

  async #countRefused(): Promise<void> {
    const { schema, pool } = this.connection;
    await pool.query(`UPDATE ${schema}.jobs SET refused = refused + 1 WHERE id = $1`, [this.job.id]);
  }

  /**
   * Writes run one after another; once one is refused, none after it is tried. A write that fails (the
   * database restarting) is tried again with backoff for up to three lease lengths: by then the lease has
   * run out anyway and the job is another worker's.
   */
  #enqueue(write: () => Promise<boolean>): void {
    this.#chain = this.#chain.then(async (ok) => {
      if (!ok || !this.#accepted) return false;
      const accepted = await this.#persist(write);
      if (!accepted) this.#accepted = false;
      return accepted;
    });
  }

  async #persist(write: () => Promise<boolean>): Promise<boolean> {
    const giveUpAt = Date.now() + 3 * this.job.leaseMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await write();
      } catch {
        if (Date.now() > giveUpAt) return false;
        await sleep(
          backoffDelay({ initialDelayMs: 200, coefficient: 2, maxDelayMs: 2_000, jitter: 0.2 }, attempt),
        );
      }
    }
  }
}
