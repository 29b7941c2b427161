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
  type ResourcePool,
  type RunnerLookup,
} from '@beamline/core';
import type { Observable } from 'rxjs';
import type { ArtifactShare } from '../artifacts/artifact-share.js';
import { execThroughShare, shareFor } from '../artifacts/staged-exec.js';
import type { JobFailure, JobStarted } from '../queue/queue-runner.js';
import { labelsSatisfy, type LabelSet, type Requirement } from '../queue/requirement.js';
import { Wakeup } from '../queue/wakeup.js';
import { markJob, recordInto } from './orphan-reaper.js';
import type { ClaimedJob, OutputChunk, WorkerQueue } from './worker-queue.js';

/** Options of a {@link QueueWorker}. */
export interface QueueWorkerOptions {
  /** The queue: PostgreSQL directly ({@link PostgresWorkerQueue}) or through a gateway (HTTPS). */
  queue: WorkerQueue;
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
  /** An artifact share: a step whose run folder is not on this host runs in a scratch folder through it. */
  artifacts?: ArtifactShare;
}

/** How long a worker leaves a queue to others after it could not reach a job's folder. */
const PAUSE_AFTER_MISSING_FOLDER_MS = 30_000;

/** How long one claim through a gateway waits for work before it answers empty (long polling). */
const LONG_POLL_MS = 20_000;

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
  #lastClaimError: { message: string; at: number } | undefined;
  /** Aborted by {@link stop}: a claim waiting at a gateway gives up at once. */
  #claims = new AbortController();
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
    this.#claims = new AbortController();
    this.#stopListening = this.#options.queue.onWork((queue) => {
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
    this.#claims.abort();
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
      let waited = false;
      const room = concurrency - this.#active.size;
      if (room > 0) {
        try {
          ({ claimed, waited } = await this.#claimNext(room));
        } catch (error) {
          if (this.#running) this.#claimFailed(error as Error);
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
      if (claimed.length > 0 || waited) continue;
      await this.#sleep(this.#options.pollMs ?? 1_000);
    }
  }

  /** The queues whose requirement this worker meets (re-read every few seconds). */
  async #servedQueues(): Promise<string[]> {
    if (Date.now() - this.#queues.at < 2_000) return this.#queues.names;
    const all = await this.#options.queue.candidates();
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
   * Claims up to `room` jobs from the served queues in turn; `waited` when the queue waited for work
   * itself (long polling through a gateway), so the loop does not sleep.
   */
  async #claimNext(room: number): Promise<{ claimed: ClaimedJob[]; waited: boolean }> {
    const names = await this.#servedQueues();
    const { queue } = this.#options;
    const open = names.filter((name) => (this.#paused.get(name) ?? 0) <= Date.now());
    if (queue.claimAll !== undefined) {
      // With no queue to name, the call still waits: it answers when a queue gets work. The gateway takes
      // from the queues in the order given: each call starts one further, so no queue is left waiting.
      const start = open.length === 0 ? 0 : this.#next++ % open.length;
      const { jobs, queuesChanged } = await queue.claimAll(
        [...open.slice(start), ...open.slice(0, start)],
        room,
        this.name,
        LONG_POLL_MS,
        this.#claims.signal,
      );
      if (queuesChanged) this.#queues = { at: 0, names: this.#queues.names };
      return { claimed: jobs, waited: true };
    }
    const won: ClaimedJob[] = [];
    for (let i = 0; i < names.length && won.length < room; i++) {
      const name = names[(this.#next + i) % names.length]!;
      if ((this.#paused.get(name) ?? 0) > Date.now()) continue;
      let claimed: ClaimedJob[];
      try {
        claimed = await queue.claim(name, room - won.length, this.name);
      } catch (error) {
        if (won.length === 0) throw error;
        this.#say(`cannot claim a job: ${(error as Error).message}`);
        continue;
      }
      if (claimed.length === 0) continue;
      this.#next = (this.#next + i + 1) % names.length;
      won.push(...claimed);
    }
    return { claimed: won, waited: false };
  }

  async #runJob(job: ClaimedJob): Promise<void> {
    const what = `job ${job.id}${job.stepId === null ? '' : ` (step ${job.stepId} of run ${job.runId ?? '?'})`}`;
    this.#say(`claimed ${what}`);
    const controller = new AbortController();
    this.#jobs.set(job.id, controller);
    const writer = new JobWriter(this.#options.queue, job, (message) => this.#say(message));
    const heartbeat = new Heartbeat(this.#options.queue, job, controller, (message) => this.#say(message));
    let lease: Lease | undefined;
    try {
      const { runner: runnerName, request, ...spec } = job.spec;
      const cwd = spec.cwd;
      const share = shareFor(this.#options.artifacts, spec);
      if (share === undefined && cwd !== undefined && !isFolder(cwd)) {
        await writer.fail({
          code: 'POSTGRES_WORKDIR_UNREACHABLE',
          message: `the run's folder ${cwd} is not reachable on ${hostname()}: inputs and outputs live on a shared path that every worker must mount at the same place, or go through an artifact share (--artifact-share) configured on the coordinator and the workers`,
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
      // The process as core records a step's (group, boot id, start time) goes with `started`, and it
      // carries the job's id in its environment: if this worker dies, a worker on this host stops it
      // (OrphanReaper).
      const recording = recordProcesses(markJob(runner, job.id), recordInto(started));
      const outcome = await this.#exec(
        share === undefined
          ? recording.exec({ ...spec, resources: lease.grant }, { signal: controller.signal })
          : execThroughShare(
              share,
              recording,
              { ...spec, resources: lease.grant },
              { signal: controller.signal },
            ),
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

  /** Says why claiming fails: once, then again only when the reason changes or a minute has passed. */
  #claimFailed(error: Error): void {
    const message = `cannot claim work: ${error.message}`;
    const last = this.#lastClaimError;
    if (last?.message === message && Date.now() - last.at < 60_000) return;
    this.#lastClaimError = { message, at: Date.now() };
    this.#say(message);
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
    private readonly queue: WorkerQueue,
    private readonly job: ClaimedJob,
    private readonly controller: AbortController,
    private readonly say: (message: string) => void,
  ) {
    const every = Math.min(Math.floor(job.leaseMs / 3), queue.heartbeatMs ?? Number.POSITIVE_INFINITY);
    this.#timer = setInterval(() => void this.#beat(), Math.max(50, every));
    // A cancel request is read at once; the job's own changes (this worker's writes) need no heartbeat.
    this.#listen = queue.onCancel((payload) => {
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
          `job ${this.job.id}: lease not renewed for ${this.job.leaseMs} ms (${this.queue.description} out of reach); stopping its process`,
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
      const reply = await this.queue.heartbeat(this.job);
      if (reply.held) this.#fenceFrom(started);
      if (!reply.held) {
        this.lost = true;
        this.say(`job ${this.job.id}: lease lost; stopping its process`);
        this.controller.abort(new Error('lease lost'));
      } else if (reply.cancel !== null) {
        this.say(`job ${this.job.id}: cancel requested (${reply.cancel}); stopping its process`);
        this.controller.abort(new Error(reply.cancel));
      }
    } catch (error) {
      // The database (or the gateway) is out of reach: keep the process running and try again; the coordinator gives the
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
  #buffer: OutputChunk[] = [];
  #bytes = 0;
  #flushTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly queue: WorkerQueue,
    private readonly job: ClaimedJob,
    private readonly say: (message: string) => void,
  ) {}

  started(started: JobStarted): void {
    this.#enqueue(() => this.queue.started(this.job, started));
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
    this.#enqueue(() => this.queue.end(this.job, { kind: 'exit', exit: event }));
  }

  fail(failure: JobFailure): Promise<boolean> {
    this.#flush();
    this.finished = true;
    this.#enqueue(() => this.queue.end(this.job, { kind: 'fail', failure }));
    return this.settled();
  }

  /** Gives a job this worker stops holding back at once (marked lost, so it is retried elsewhere). */
  handBack(): Promise<boolean> {
    this.finished = true;
    this.#enqueue(() => this.queue.end(this.job, { kind: 'hand-back' }));
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
    this.#enqueue(() => this.queue.output(this.job, first, chunks));
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
      } catch (error) {
        if (Date.now() > giveUpAt) {
          this.say(
            `job ${this.job.id}: giving up a write after ${attempt} tries: ${(error as Error).message}`,
          );
          return false;
        }
        if (attempt === 1) {
          this.say(
            `job ${this.job.id}: a write failed (${(error as Error).message}); retrying until the lease would have run out`,
          );
        }
        await sleep(
          backoffDelay({ initialDelayMs: 200, coefficient: 2, maxDelayMs: 2_000, jitter: 0.2 }, attempt),
        );
      }
    }
  }
}
