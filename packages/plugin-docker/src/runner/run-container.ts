import type { IncomingMessage } from 'node:http';
import type { ExecOptions, ExitReason, ProcessEvent } from '@beamline/core';
import { Observable } from 'rxjs';
import type { Engine} from '../client/engine.js';
import { type ContainerInspect } from '../client/engine.js';
import { classifyApiError } from '../errors/classify-error.js';
import { DockerError, isDockerError } from '../errors/docker-error.js';
import { settingsMismatches } from '../spec/assert-applied.js';
import { createBody } from '../spec/create-body.js';
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
/** How long to wait for the `die` event after the wait returned (AutoRemove mode). */
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
export function runContainer(ctx: RunContext, job: ResolvedJob, options: ExecOptions = {}): Observable<ProcessEvent> {
  return new Observable<ProcessEvent>((subscriber) => {
    const { engine } = ctx;
    const internal = new AbortController();
    let containerId: string | undefined;
    let exited: Promise<unknown> | undefined;
    let reason: ExitReason | undefined;
    let stopping: Promise<void> | undefined;
    let done = false;

    const stop = (why: ExitReason): void => {
      reason ??= why;
      internal.abort();
      const id = containerId;
      if (id === undefined || exited === undefined || stopping !== undefined) return;
      const ended = exited;
      stopping = (async () => {
        await engine.kill(id, 'SIGTERM');
        const grace = delay(job.killGraceMs);
        const first = await Promise.race([ended.then(() => 'exited' as const), grace.promise.then(() => 'grace' as const)]);
        grace.cancel();
        if (first === 'grace') await engine.kill(id, 'SIGKILL');
      })().catch(() => undefined);
    };

    const onAbort = (): void => stop('cancelled');
    const timers: NodeJS.Timeout[] = [];

    const main = async (): Promise<void> => {
      if (options.signal?.aborted) {
        // Nothing was started: the stream still ends with its exit, as the contract asks.
        subscriber.next({ type: 'exit', code: null, signal: null, oomKilled: false, reason: 'cancelled' });
        return;
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });
      let prepared: PreparedWorkspace = {};
      let started = false;
      let attach: IncomingMessage | undefined;
      let oomWatch: OomWatch | undefined;
      try {
        if (ctx.localHost) prepared = await prepareWorkspace(job);
        const body = createBody(job);
        if (ctx.pullFirst) await ctx.onMissingImage(job.image, internal.signal);
        let created: { Id: string };
        try {
          created = await engine.createContainer(job.name, body);
        } catch (error) {
          const typed = classifyApiError(error, 'create', { image: job.image, name: job.name });
          if (typed.code !== 'DOCKER_IMAGE_NOT_FOUND' || !(await ctx.onMissingImage(job.image, internal.signal))) {
            throw typed;
          }
          created = await engine.createContainer(job.name, body).catch((e: unknown) => {
            throw classifyApiError(e, 'create', { image: job.image, name: job.name });
          });
        }
        containerId = created.Id;
        const id = created.Id;

        // Inspect-and-assert, the OOM watch, the attach and the wait are independent; only start must wait
        // for all of them. allSettled, so that a handle opened next to a failure is still closed.
        const [inspected, watched, attached, waiting] = await Promise.allSettled([
          engine.inspectContainer(id),
          job.autoRemove ? watchOom(engine, job.jobLabel) : Promise.resolve(undefined),
          engine.attach(id),
          engine.registerWait(id, job.autoRemove ? 'removed' : 'next-exit'),
        ]);
        if (watched.status === 'fulfilled') oomWatch = watched.value;
        if (attached.status === 'fulfilled') attach = attached.value;
        // A wait that is never awaited (an error below) must not become an unhandled rejection.
        if (waiting.status === 'fulfilled') waiting.value.result.catch(() => undefined);
        for (const r of [inspected, watched, attached, waiting]) if (r.status === 'rejected') throw r.reason;
        if (inspected.status === 'fulfilled') {
          const mismatches = settingsMismatches(body, inspected.value);
          if (mismatches.length > 0) {
            throw new DockerError('DOCKER_SPEC_NOT_APPLIED', `the created container differs from the spec: ${mismatches.join('; ')}`, {
              details: { mismatches, containerId: id },
            });
          }
        }
        if (attached.status !== 'fulfilled' || waiting.status !== 'fulfilled') return;
        const { result } = waiting.value;

        // Output: attached before start, buffered until `started` so events keep their contract order.
        const early: ProcessEvent[] = [];
        let live = false;
        let stderrHead = '';
        const demux = new Demuxer((stream, data) => {
          if (stream === 'stderr' && stderrHead.length < 512) stderrHead += data.toString('utf8', 0, 512);
          const event: ProcessEvent = { type: stream, data };
          if (live) subscriber.next(event);
          else early.push(event);
        });
        const attachStream = attached.value;
        const attachEnded = new Promise<void>((resolve) => {
          attachStream.on('data', (chunk: Buffer) => demux.push(chunk));
          attachStream.on('end', resolve);
          attachStream.on('close', resolve);
          attachStream.on('error', () => resolve());
        });

        exited = result.catch(() => undefined);
        if (internal.signal.aborted || subscriber.closed) {
          // Cancelled (or unsubscribed) before start: never start it; the finally removes it.
          if (!subscriber.closed) subscriber.next({ type: 'exit', code: null, signal: null, oomKilled: false, reason: reason ?? 'cancelled' });
          return;
        }
        try {
          await engine.startContainer(id);
        } catch (error) {
          throw classifyApiError(error, 'start', { image: job.image, name: job.name, containerId: id });
        }
        started = true;
        subscriber.next({ type: 'started', containerId: id, name: job.name });
        live = true;
        for (const e of early.splice(0)) subscriber.next(e);
        if (job.timeoutMs !== undefined) timers.push(setTimeout(() => stop('timeout'), job.timeoutMs));

        const waited = await result;
        // The exit is known; the attach stream ends once the daemon flushed the last frames.
        const drain = delay(ATTACH_DRAIN_MS);
        await Promise.race([attachEnded, drain.promise]);
        drain.cancel();

        let exitCode = waited.StatusCode;
        let oomKilled = false;
        if (job.autoRemove) {
          oomKilled = (await oomWatch?.oomKilled(DIE_EVENT_MS)) ?? false;
        } else {
          const state: ContainerInspect = await engine.inspectContainer(id);
          exitCode = state.State.ExitCode;
          oomKilled = state.State.OOMKilled;
        }
        await stopping;
        const execFailure = job.init && exitCode !== 0 ? TINI_EXEC_FAILED.exec(stderrHead) : null;
        if (execFailure !== null) {
          throw new DockerError('DOCKER_START_FAILED', `container failed to start: exec ${execFailure[1]} failed: ${execFailure[2]}`, {
            details: { containerId: id, exitCode, daemonMessage: execFailure[0] },
          });
        }
        const status = exitStatus(exitCode);
        subscriber.next({ type: 'exit', ...status, oomKilled, ...(reason === undefined ? {} : { reason }) });
      } finally {
        for (const t of timers) clearTimeout(t);
        options.signal?.removeEventListener('abort', onAbort);
        oomWatch?.close();
        attach?.destroy();
        if (containerId !== undefined) await engine.removeContainer(containerId).catch(() => undefined);
        if (ctx.localHost) await cleanupWorkspace(prepared, started).catch(() => undefined);
      }
    };

    const work = main().then(
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
      // Unsubscribed before the exit: stop as a last resort; `main` still removes the container.
      stop('cancelled');
      ctx.track(work);
    };
  });
}

