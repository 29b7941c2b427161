import type { IncomingMessage } from 'node:http';
import type { ExecOptions, ExitReason, ProcessEvent } from '@beamline/core';
import { Observable, type Subscriber } from 'rxjs';
import type { ContainerInspect, Engine } from '../client/engine.js';
import { classifyApiError } from '../errors/classify-error.js';
import { DockerError, isDockerError } from '../errors/docker-error.js';
import { settingsMismatches } from '../spec/assert-applied.js';
import { createBody, type ContainerCreateBody } from '../spec/create-body.js';
import type { ResolvedJob } from '../spec/resolve-spec.js';
import { Demuxer } from './demuxer.js';
import { exitStatus } from './exit-status.js';
import { watchOom, type OomWatch } from './oom-watch.js';
import { cleanupWorkspace, prepareWorkspace, type PreparedWorkspace } from './workspace.js';

/** What the run sequence needs from its runner. */
export interface RunContext {
  engine: Engine;
  /** Makes the image available after a create failed with "No such image" (pull policy); false = give up. */
  onMissingImage(image: string, signal: AbortSignal): Promise<boolean>;
  /** Pull before create (policy `always`), through `onMissingImage`. */
  pullFirst?: boolean;
  /** Whether host paths can be checked and created here (a local daemon). */
  localHost: boolean;
  /** Registers background clean-up work (after an unsubscribe), so the runner can await it on dispose. */
  track(work: Promise<unknown>): void;
}

/** How long to wait for the last output after the exit was reported before giving up on the attach stream. */
const ATTACH_DRAIN_MS = 10_000;
/** How long to wait for the `destroy` event (and an `oom` before it) after the wait returned (AutoRemove mode). */
const DIE_EVENT_MS = 5_000;

/**
 * With `Init`, docker-init (tini) is the process runc starts, so a command missing from the image is
 * not a start error from the daemon but tini's own message and a non-zero exit. It is still a failure
 * to start, and reported as one.
 */
const TINI_EXEC_FAILED = /^\[FATAL tini \(\d+\)\] exec (.*) failed: (.*)$/m;

function delay(ms: number): { promise: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return { promise, cancel: () => clearTimeout(timer) };
}

/**
 * Runs one resolved job as a cold Observable of ProcessEvents, in the only race-free order:
 * create → inspect and assert → (events) → attach → register wait → start → wait result and end of
 * output → exit state → remove. Timeout and abort stop the container (SIGTERM, grace, SIGKILL); the
 * container is always removed, also after a start failure or an unsubscribe.
 */
export function runContainer(
  ctx: RunContext,
  job: ResolvedJob,
  options: ExecOptions = {},
): Observable<ProcessEvent> {
  return new Observable<ProcessEvent>((subscriber) => {
    const run = new ContainerRun(ctx, job, options, subscriber);
    let done = false;
    const work = run.run().then(
      () => {
        done = true;
        subscriber.complete();
      },
      (error: unknown) => {
        done = true;
        subscriber.error(isDockerError(error) ? error : classifyApiError(error, 'other', { name: job.name }));
      },
    );
    return () => {
      if (done) return;
      // Unsubscribed before the exit: stop as a last resort; `run` still removes the container.
      run.stop('cancelled');
      ctx.track(work);
    };
  });
}

/** The daemon-side handles a created container needs before it may start. */
interface Handles {
  attach: IncomingMessage;
  /** Resolves with the wait result once the container exited (or was removed, with AutoRemove). */
  result: Promise<{ StatusCode: number }>;
}

/** The container's output, attached before start and held back until `started` was emitted. */
interface Output {
  /** Resolves when the attach stream ended (the daemon flushed the last frames). */
  ended: Promise<void>;
  /** The first bytes of stderr, where tini reports a command it could not exec. */
  stderrHead(): string;
  /** Emits what arrived before `started` and passes everything after straight through. */
  goLive(): void;
}

/** One container job, from workspace preparation to removal; each step is a method. */
class ContainerRun {
  private readonly engine: Engine;
  /** Aborted by any stop: a pending pull gives up, a container not yet started is never started. */
  private readonly internal = new AbortController();
  private readonly onAbort = (): void => this.stop('cancelled');
  private readonly timers: NodeJS.Timeout[] = [];
  private containerId: string | undefined;
  /** Settles when the started container exited; set once a wait is registered. */
  private exited: Promise<unknown> | undefined;
  private reason: ExitReason | undefined;
  private stopping: Promise<void> | undefined;
  // What the finally block releases.
  private prepared: PreparedWorkspace = {};
  private started = false;
  private attach: IncomingMessage | undefined;
  private oomWatch: OomWatch | undefined;

  constructor(
    private readonly ctx: RunContext,
    private readonly job: ResolvedJob,
    private readonly options: ExecOptions,
    private readonly subscriber: Subscriber<ProcessEvent>,
  ) {
    this.engine = ctx.engine;
  }

  /** Runs the job to its `exit` event; the container is removed whatever happens. */
  async run(): Promise<void> {
    if (this.options.signal?.aborted) {
      // Nothing was started: the stream still ends with its exit, as the contract asks.
      this.emitExit({ code: null, signal: null, oomKilled: false, reason: 'cancelled' });
      return;
    }
    this.options.signal?.addEventListener('abort', this.onAbort, { once: true });
    try {
      const body = await this.prepare();
      const id = await this.create(body);
      const handles = await this.openHandles(id, body);
      const output = this.readOutput(handles.attach);
      this.exited = handles.result.catch(() => undefined);
      if (this.internal.signal.aborted || this.subscriber.closed) {
        // Cancelled (or unsubscribed) before start: never start it; the finally removes it.
        this.emitExit({ code: null, signal: null, oomKilled: false, reason: this.reason ?? 'cancelled' });
        return;
      }
      await this.start(id, output);
      const { exitCode, oomKilled } = await this.waitForExit(id, handles.result, output);
      await this.stopping;
      this.assertExecStarted(id, exitCode, output.stderrHead());
      this.emitExit({
        ...exitStatus(exitCode),
        oomKilled,
        ...(this.reason === undefined ? {} : { reason: this.reason }),
      });
    } finally {
      await this.release();
    }
  }

  /** SIGTERM, then SIGKILL after the grace unless it exited; before start, it just is never started. */
  stop(why: ExitReason): void {
    this.reason ??= why;
    this.internal.abort();
    const id = this.containerId;
    if (id === undefined || this.exited === undefined || this.stopping !== undefined) return;
    this.stopping = this.terminate(id, this.exited).catch(() => undefined);
  }

  private async terminate(id: string, ended: Promise<unknown>): Promise<void> {
    await this.engine.kill(id, 'SIGTERM');
    const grace = delay(this.job.killGraceMs);
    const first = await Promise.race([
      ended.then(() => 'exited' as const),
      grace.promise.then(() => 'grace' as const),
    ]);
    grace.cancel();
    if (first === 'grace') await this.engine.kill(id, 'SIGKILL');
  }

  /** Host folders (local daemon), the API body, and the image when the policy pulls first. */
  private async prepare(): Promise<ContainerCreateBody> {
    if (this.ctx.localHost) this.prepared = await prepareWorkspace(this.job);
    const body = createBody(this.job);
    if (this.ctx.pullFirst) await this.ctx.onMissingImage(this.job.image, this.internal.signal);
    return body;
  }

  /** Creates the container; a missing image is made available once (pull policy) and creation retried. */
  private async create(body: ContainerCreateBody): Promise<string> {
    const { job } = this;
    const created = await this.engine.createContainer(job.name, body).catch(async (error: unknown) => {
      const typed = classifyApiError(error, 'create', { image: job.image, name: job.name });
      if (
        typed.code !== 'DOCKER_IMAGE_NOT_FOUND' ||
        !(await this.ctx.onMissingImage(job.image, this.internal.signal))
      ) {
        throw typed;
      }
      return this.engine.createContainer(job.name, body).catch((e: unknown) => {
        throw classifyApiError(e, 'create', { image: job.image, name: job.name });
      });
    });
    this.containerId = created.Id;
    return created.Id;
  }

  /**
   * Inspect-and-assert, the OOM watch, the attach and the wait are independent; only start must wait for
   * all of them. allSettled, so that a handle opened next to a failure is still closed.
   */
  private async openHandles(id: string, body: ContainerCreateBody): Promise<Handles> {
    const { engine, job } = this;
    const [inspected, watched, attached, waiting] = await Promise.allSettled([
      engine.inspectContainer(id),
      job.autoRemove ? watchOom(engine, job.jobLabel) : Promise.resolve(undefined),
      engine.attach(id),
      engine.registerWait(id, job.autoRemove ? 'removed' : 'next-exit'),
    ]);
    if (watched.status === 'fulfilled') this.oomWatch = watched.value;
    if (attached.status === 'fulfilled') this.attach = attached.value;
    // A wait that is never awaited (an error below) must not become an unhandled rejection.
    if (waiting.status === 'fulfilled') waiting.value.result.catch(() => undefined);
    if (inspected.status === 'rejected') throw inspected.reason;
    if (watched.status === 'rejected') throw watched.reason;
    if (attached.status === 'rejected') throw attached.reason;
    if (waiting.status === 'rejected') throw waiting.reason;
    const mismatches = settingsMismatches(body, inspected.value);
    if (mismatches.length > 0) {
      throw new DockerError(
        'DOCKER_SPEC_NOT_APPLIED',
        `the created container differs from the spec: ${mismatches.join('; ')}`,
        {
          details: { mismatches, containerId: id },
        },
      );
    }
    return { attach: attached.value, result: waiting.value.result };
  }

  /** Demultiplexes the attach stream; events keep their contract order (nothing before `started`). */
  private readOutput(attach: IncomingMessage): Output {
    const early: ProcessEvent[] = [];
    let live = false;
    let stderrHead = '';
    const demux = new Demuxer((stream, data) => {
      if (stream === 'stderr' && stderrHead.length < 512) stderrHead += data.toString('utf8', 0, 512);
      const event: ProcessEvent = { type: stream, data };
      if (live) this.subscriber.next(event);
      else early.push(event);
    });
    const ended = new Promise<void>((resolve) => {
      attach.on('data', (chunk: Buffer) => demux.push(chunk));
      attach.on('end', resolve);
      attach.on('close', resolve);
      attach.on('error', () => resolve());
    });
    return {
      ended,
      stderrHead: () => stderrHead,
      goLive: () => {
        live = true;
        for (const event of early.splice(0)) this.subscriber.next(event);
      },
    };
  }

  /** Starts the container, emits `started` and the output so far, and arms the timeout. */
  private async start(id: string, output: Output): Promise<void> {
    const { job } = this;
    try {
      await this.engine.startContainer(id);
    } catch (error) {
      throw classifyApiError(error, 'start', { image: job.image, name: job.name, containerId: id });
    }
    this.started = true;
    this.subscriber.next({ type: 'started', containerId: id, name: job.name });
    output.goLive();
    if (job.timeoutMs !== undefined) this.timers.push(setTimeout(() => this.stop('timeout'), job.timeoutMs));
  }

  /** The exit code and OOM flag, once the container exited and its last output arrived. */
  private async waitForExit(
    id: string,
    result: Promise<{ StatusCode: number }>,
    output: Output,
  ): Promise<{ exitCode: number; oomKilled: boolean }> {
    const waited = await result;
    // The exit is known; the attach stream ends once the daemon flushed the last frames.
    const drain = delay(ATTACH_DRAIN_MS);
    await Promise.race([output.ended, drain.promise]);
    drain.cancel();
    if (this.job.autoRemove) {
      return {
        exitCode: waited.StatusCode,
        oomKilled: (await this.oomWatch?.oomKilled(DIE_EVENT_MS)) ?? false,
      };
    }
    const state: ContainerInspect = await this.engine.inspectContainer(id);
    return { exitCode: state.State.ExitCode, oomKilled: state.State.OOMKilled };
  }

  /** tini's own report of a command it could not exec is a failure to start, not an exit code. */
  private assertExecStarted(id: string, exitCode: number, stderrHead: string): void {
    const execFailure = this.job.init && exitCode !== 0 ? TINI_EXEC_FAILED.exec(stderrHead) : null;
    if (execFailure === null) return;
    throw new DockerError(
      'DOCKER_START_FAILED',
      `container failed to start: exec ${execFailure[1]} failed: ${execFailure[2]}`,
      {
        details: { containerId: id, exitCode, daemonMessage: execFailure[0] },
      },
    );
  }

  private emitExit(exit: Omit<Extract<ProcessEvent, { type: 'exit' }>, 'type'>): void {
    if (!this.subscriber.closed) this.subscriber.next({ type: 'exit', ...exit });
  }

  /** Timers, listeners, handles, the container and the host folders, whatever happened before. */
  private async release(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.oomWatch?.close();
    this.attach?.destroy();
    if (this.containerId !== undefined)
      await this.engine.removeContainer(this.containerId).catch(() => undefined);
    if (this.ctx.localHost) await cleanupWorkspace(this.prepared, this.started).catch(() => undefined);
  }
}
