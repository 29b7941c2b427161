import type { ExecOptions, ExitReason, ProcessEvent } from '@beamline/core';
import { mkdir, readFile, rm } from 'node:fs/promises';
import type { Subscriber } from 'rxjs';
import { hasEnded, isGone, type JobRecord } from '../client/records.js';
import type { JobSubmission, SlurmClient } from '../client/slurm-client.js';
import { isSlurmError, SlurmError } from '../errors/slurm-error.js';
import { parseLaunch, type JobFiles, type Launch } from '../job/job-script.js';
import {
  endedError,
  exitOf,
  hopelessPending,
  MEMORY_KILL_MARKER,
  reasonText,
  startFailure,
} from './job-outcome.js';
import type { JobUpdate, JobWatcher } from './job-watcher.js';
import { OutputTail } from './output-tail.js';

/** What one job needs from its runner. */
export interface JobRunContext {
  client: SlurmClient;
  watcher: JobWatcher;
  /** How long Slurm may stay unreachable before the step gives up on its job. */
  unreachableTimeoutMs: number;
  /** Registers clean-up that goes on after an unsubscribe, so the runner can await it on dispose. */
  track(work: Promise<unknown>): void;
}

/** One job, as the runner prepared it. */
export interface JobPlan {
  /** Checks and fills in what needs the cluster (partition limits); runs before submission. */
  prepare(): Promise<JobSubmission>;
  files: JobFiles;
  program: string;
  timeoutMs?: number;
  killGraceMs: number;
}

/** How often the job's files are read while it runs (output, the launch report). */
const FILE_POLL_MS = 100;
/** Bytes of stderr kept for a failure message when the program never started. */
const STDERR_HEAD = 4_096;

type ExitEvent = Extract<ProcessEvent, { type: 'exit' }>;

/**
 * One step as one Slurm job, from submission until Slurm confirms the job gone: the job's output files
 * stream back as stdout/stderr events, `started` comes when the batch script hands over to the program
 * (with the node and the GPU ids Slurm granted), and the exit is read from the job record. A stop
 * (abort, timeout, unsubscribe) sends SIGTERM through the REST API and cancels the job after the grace;
 * a job that has not started is cancelled at once. `exit` is emitted only once the job has left its node.
 */
export class JobRun {
  private readonly internal = new AbortController();
  private readonly onAbort = (): void => this.stop('cancelled');
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly stdout: OutputTail;
  private readonly stderr: OutputTail;
  private jobId: number | undefined;
  private reason: ExitReason | undefined;
  /** `term`: SIGTERM sent, cancel after the grace; `cancel`: the job was cancelled. */
  private stopStage: 'none' | 'term' | 'cancel' = 'none';
  private launch: Launch | undefined;
  private started = false;
  private readonly early: ProcessEvent[] = [];
  private stderrHead = '';
  private stderrCarry = '';
  private memoryKilled = false;
  private last: JobRecord | undefined;
  private reading: Promise<void> = Promise.resolve();
  private hurry: (() => void) | undefined;

  constructor(
    private readonly ctx: JobRunContext,
    private readonly plan: JobPlan,
    private readonly options: ExecOptions,
    private readonly subscriber: Subscriber<ProcessEvent>,
    private readonly jobName: string,
  ) {
    this.stdout = new OutputTail(plan.files.stdout);
    this.stderr = new OutputTail(plan.files.stderr);
  }

  /** Runs the job to its `exit` event (or a coded error); the job's folder is removed whatever happens. */
  async run(): Promise<void> {
    if (this.options.signal?.aborted) {
      this.emitExit({ code: null, signal: null, oomKilled: false, reason: 'cancelled' });
      return;
    }
    this.options.signal?.addEventListener('abort', this.onAbort, { once: true });
    try {
      const submission = await this.plan.prepare();
      if (this.reason !== undefined) {
        this.emitExit({ code: null, signal: null, oomKilled: false, reason: this.reason });
        return;
      }
      await mkdir(this.plan.files.dir, { recursive: true, mode: 0o700 }).catch((error: unknown) => {
        throw new SlurmError(
          'SLURM_CONFIG_INVALID',
          `cannot create the job's output folder ${this.plan.files.dir} (outputDir must be a folder on the filesystem the cluster's nodes share): ${error instanceof Error ? error.message : String(error)}`,
          { cause: error, details: { dir: this.plan.files.dir } },
        );
      });
      const jobId = await this.submit(submission);
      this.jobId = jobId;
      const final = await this.follow(jobId);
      await this.finish(final);
    } finally {
      await this.release();
    }
  }

  /** Stops the job: SIGTERM then cancel after the grace, or cancel at once when it has not started. */
  stop(why: ExitReason): void {
    this.reason ??= why;
    this.internal.abort();
    this.act();
  }

  private async submit(submission: JobSubmission): Promise<number> {
    try {
      return (await this.ctx.client.submit(submission)).jobId;
    } catch (error) {
      if (!isSlurmError(error, 'SLURM_UNREACHABLE')) throw error;
      // The connection broke after the request may have arrived: a job Slurm created then is found by
      // its comment (unique per submission) instead of being submitted a second time.
      const jobs = await this.ctx.client.jobs().catch(() => undefined);
      const found = jobs?.find((j) => j.comment === submission.comment);
      if (found === undefined) throw error;
      return found.jobId;
    }
  }

  /** Polls the job until Slurm says it is gone; returns its last record. */
  private follow(jobId: number): Promise<JobRecord> {
    return new Promise<JobRecord>((resolve, reject) => {
      let unreachableSince: number | undefined;
      let settled = false;
      const watch = this.ctx.watcher.watch(jobId, (update) => onUpdate(update));
      this.hurry = () => watch.hurry();
      const files = setInterval(() => void this.readFiles().catch(() => undefined), FILE_POLL_MS);
      this.timers.push(files);
      const settle = (result: { job: JobRecord } | { error: unknown }): void => {
        if (settled) return;
        settled = true;
        clearInterval(files);
        watch.unwatch();
        this.hurry = undefined;
        if ('job' in result) resolve(result.job);
        else reject(result.error instanceof Error ? result.error : new Error(String(result.error)));
      };
      const onUpdate = (update: JobUpdate): void => {
        if (update.type === 'error') {
          const error = update.error;
          const transient = isSlurmError(error) ? error.retryable : true;
          unreachableSince ??= Date.now();
          if (transient && Date.now() - unreachableSince < this.ctx.unreachableTimeoutMs) return;
          settle({ error: lostContact(jobId, error, Date.now() - unreachableSince) });
          return;
        }
        unreachableSince = undefined;
        if (update.type === 'missing') {
          // Slurm forgets a finished job after MinJobAge: if it was seen ending, it is gone.
          if (this.last !== undefined && hasEnded(this.last)) settle({ job: this.last });
          else settle({ error: jobLost(jobId, this.last) });
          return;
        }
        const job = update.job;
        // Records come in poll order; a launch report read from the files may be ahead of them.
        const requeued = job.state === 'PENDING' && this.last !== undefined && this.last.state !== 'PENDING';
        this.last = job;
        this.act();
        if (isGone(job)) {
          settle({ job });
          return;
        }
        if (hasEnded(job)) {
          // Completing on its node: the end is near, poll fast.
          watch.hurry();
          return;
        }
        if (requeued) {
          // Requeued after it ran (a cluster that requeues whatever the job asked): its output files start
          // over and the step would run twice; the engine's retry policy decides instead.
          const error = new SlurmError(
            'SLURM_JOB_FAILED',
            `job ${jobId} was requeued by Slurm after it had started (${reasonText(job)}); it was cancelled, Beamline retries steps itself`,
            { details: { jobId, reason: job.reason } },
          );
          this.ctx.client.cancel(jobId).then(
            () => settle({ error }),
            () => settle({ error }),
          );
          return;
        }
        const hopeless = hopelessPending(job);
        if (hopeless !== undefined && this.reason === undefined) {
          this.ctx.client.cancel(jobId).then(
            () => settle({ error: hopeless }),
            (error: unknown) =>
              settle({
                error: new SlurmError(hopeless.code, hopeless.message, {
                  cause: error,
                  details: hopeless.details,
                }),
              }),
          );
        }
      };
    });
  }

  /** Brings the job in line with a stop request, as far as its state allows. */
  private act(): void {
    const jobId = this.jobId;
    if (this.reason === undefined || jobId === undefined || this.stopStage === 'cancel') return;
    const job = this.last;
    if (job !== undefined && hasEnded(job)) return;
    const running = this.started || job?.state === 'RUNNING';
    if (!running) {
      this.sendCancel(jobId);
      return;
    }
    if (this.stopStage === 'term') return;
    this.stopStage = 'term';
    this.ctx.client.signal(jobId, 'TERM').then(
      () => this.hurry?.(),
      () => {
        // Not delivered (Slurm unreachable): the next record tries again.
        if (this.stopStage === 'term') this.stopStage = 'none';
      },
    );
    this.timers.push(setTimeout(() => this.sendCancel(jobId), this.plan.killGraceMs));
  }

  /** Cancels the job (Slurm sends SIGTERM, waits its KillWait, then SIGKILL). */
  private sendCancel(jobId: number): void {
    if (this.stopStage === 'cancel') return;
    if (this.last !== undefined && hasEnded(this.last)) return;
    this.stopStage = 'cancel';
    this.ctx.client.cancel(jobId).then(
      () => this.hurry?.(),
      () => {
        if (this.stopStage === 'cancel') this.stopStage = 'term';
      },
    );
  }

  /** Reads the launch report and new output (one read at a time). */
  private readFiles(): Promise<void> {
    this.reading = this.reading.then(() => this.readFilesNow()).catch(() => undefined);
    return this.reading;
  }

  private async readFilesNow(final = false): Promise<void> {
    if (this.launch === undefined) {
      const text = await readFile(this.plan.files.launch, 'utf8').catch(() => undefined);
      if (text !== undefined) this.launch = parseLaunch(text);
      if (this.launch?.kind === 'started' && !this.started) this.goLive(this.launch);
    }
    const [out, err] = final
      ? await Promise.all([this.stdout.drain(), this.stderr.drain()])
      : await Promise.all([this.stdout.read(), this.stderr.read()]);
    for (const data of out) this.emitOutput({ type: 'stdout', data });
    for (const data of err) {
      this.noteStderr(data);
      this.emitOutput({ type: 'stderr', data });
    }
  }

  private goLive(launch: Extract<Launch, { kind: 'started' }>): void {
    this.started = true;
    if (!this.subscriber.closed) {
      this.subscriber.next({
        type: 'started',
        jobId: String(this.jobId),
        name: this.jobName,
        node: launch.node,
        gpus: launch.gpus,
      });
    }
    for (const event of this.early.splice(0)) this.emitOutput(event);
    if (this.plan.timeoutMs !== undefined) {
      this.timers.push(setTimeout(() => this.stop('timeout'), this.plan.timeoutMs));
    }
    // A stop asked for before the program started now reaches it with SIGTERM.
    this.act();
  }

  private emitOutput(event: ProcessEvent): void {
    if (!this.started) this.early.push(event);
    else if (!this.subscriber.closed) this.subscriber.next(event);
  }

  /** Keeps the head of stderr (for a start failure) and looks for Slurm's memory-limit messages. */
  private noteStderr(data: Buffer): void {
    if (this.stderrHead.length < STDERR_HEAD) this.stderrHead += data.toString('utf8', 0, STDERR_HEAD);
    if (this.memoryKilled) return;
    const text = this.stderrCarry + data.toString('latin1');
    if (MEMORY_KILL_MARKER.test(text)) this.memoryKilled = true;
    this.stderrCarry = text.slice(-256);
  }

  /** The job is gone: the rest of its output, then its exit (or why it never ran). */
  private async finish(job: JobRecord): Promise<void> {
    await this.reading;
    await this.readFilesNow(true).catch((error: unknown) => {
      throw new SlurmError(
        'SLURM_OUTPUT_UNREADABLE',
        `job ${job.jobId} ended but its output in ${this.plan.files.dir} cannot be read: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error, details: { jobId: job.jobId, dir: this.plan.files.dir } },
      );
    });
    if (!this.started) {
      const launch = this.launch;
      if (this.reason !== undefined && launch === undefined) {
        // Stopped before the program started: nothing ran, and the stream still ends with its exit.
        this.emitExit({ code: null, signal: null, oomKilled: false, reason: this.reason });
        return;
      }
      if (this.reason !== undefined && launch?.kind === 'started') this.goLive(launch);
      else throw startFailure(job, launch, this.plan.program, this.stderrHead);
    }
    const oomKilled = job.state === 'OUT_OF_MEMORY' || (this.memoryKilled && exitOf(job).code !== 0);
    if (this.reason !== undefined) {
      this.emitExit({ ...exitOf(job), oomKilled, reason: this.reason });
      return;
    }
    switch (job.state) {
      case 'COMPLETED':
      case 'FAILED':
      case 'OUT_OF_MEMORY':
        this.emitExit({ ...exitOf(job), oomKilled });
        return;
      default:
        throw endedError(job, 'while its program ran');
    }
  }

  private emitExit(exit: Omit<ExitEvent, 'type'>): void {
    if (!this.subscriber.closed) this.subscriber.next({ type: 'exit', ...exit });
  }

  /** Timers, the abort listener, open files and the job's folder, whatever happened before. */
  private async release(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.options.signal?.removeEventListener('abort', this.onAbort);
    await this.reading;
    await Promise.all([this.stdout.close(), this.stderr.close()]);
    await rm(this.plan.files.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

function lostContact(jobId: number, error: unknown, forMs: number): SlurmError {
  const why = error instanceof Error ? error.message : String(error);
  return new SlurmError(
    isSlurmError(error) && !error.retryable ? error.code : 'SLURM_UNREACHABLE',
    `lost contact with Slurm while following job ${jobId} (${Math.round(forMs / 1000)} s): ${why}; the job may still run: the janitor cancels it when Beamline next starts, or run scancel ${jobId}`,
    { cause: error, details: { jobId } },
  );
}

function jobLost(jobId: number, last: JobRecord | undefined): SlurmError {
  return new SlurmError(
    'SLURM_JOB_LOST',
    `Slurm no longer knows job ${jobId}${last === undefined ? '' : ` (last seen ${last.state}: ${reasonText(last)})`}: it was purged before its end was seen`,
    { details: { jobId } },
  );
}
