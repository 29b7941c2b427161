import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { arch, hostname, platform } from 'node:os';
import { Observable, type Subscriber, type TeardownLogic } from 'rxjs';
import { inject, injectable } from '../di/tsyringe.js';
import type {
  ExecOptions,
  ExitReason,
  ProcessEvent,
  ProcessSpec,
  Runner,
  RunnerIdentityRequest,
} from '../contracts/runner.js';
import type { EventSink } from '../contracts/runtime.js';
import { Tokens } from '../di/tokens.js';
import { CoreError } from '../errors/core-error.js';
import { findLiveGroupMember, isLiveGroupMember } from '../process/process-identity.js';

/** Default time between SIGTERM and SIGKILL when stopping a process group. */
export const DEFAULT_KILL_GRACE_MS = 10_000;

/** How often a stopping runner checks whether the process group is gone. */
const GROUP_POLL_MS = 100;

/** Spec fields only sandboxing runners can honour; refusing them beats silently running unsandboxed. */
const UNSUPPORTED_FIELDS = ['image', 'mounts', 'network', 'user'] as const;

/** A sink that drops everything, for a runner built outside a runtime. */
const NO_EVENTS: EventSink = { emit: () => undefined };

/**
 * Runs processes on this host with `child_process.spawn` (no shell). Each process leads its own process
 * group, so stopping it (timeout, abort, unsubscribe) reaches everything it started: SIGTERM to the group,
 * SIGKILL after `killGraceMs`. Granted GPUs become `CUDA_VISIBLE_DEVICES`.
 *
 * A stop ends as soon as the whole group is gone, checked every 100 ms: until then the SIGKILL timer keeps
 * this process alive (it never leaves a live process of the group behind), after that nothing does.
 * Processes of the group that have exited but that nobody reaps (orphans whose new parent, PID 1 in many
 * containers, never waits for them) count as gone on Linux. A group that outlives its grace and has to be
 * SIGKILLed is reported as a warning to the runtime's events (source `runner.local`).
 */
@injectable()
export class LocalProcessRunner implements Runner {
  readonly name = 'local';

  constructor(@inject(Tokens.Events) private readonly events: EventSink = NO_EVENTS) {}

  /** `local:<hostname>:<platform>-<arch>`: local results are only reusable on the same kind of host. */
  identity(_request?: RunnerIdentityRequest): Promise<string> {
    return Promise.resolve(`local:${hostname()}:${platform()}-${arch()}`);
  }

  exec(spec: ProcessSpec, options: ExecOptions = {}): Observable<ProcessEvent> {
    return new Observable<ProcessEvent>((subscriber) => {
      const refusal = refuseSpec(spec, this.name);
      if (refusal !== undefined) {
        subscriber.error(refusal);
        return;
      }
      if (options.signal?.aborted) {
        // Nothing was started, so there is nothing to stop: report the cancellation without spawning.
        subscriber.next({ type: 'exit', code: null, signal: null, oomKilled: false, reason: 'cancelled' });
        subscriber.complete();
        return;
      }
      const child = spawnLeader(spec, subscriber);
      if (child === undefined) return undefined;
      return new ProcessGroupRun(child, spec, subscriber, this.events).watch(options.signal);
    });
  }
}

/** Why a spec cannot run here at all: a field only sandboxing runners honour, or no program. */
function refuseSpec(spec: ProcessSpec, runner: string): CoreError | undefined {
  const refused = unsupportedField(spec);
  if (refused !== undefined) {
    return new CoreError(
      'CORE_RUNNER_UNSUPPORTED',
      `The local runner cannot honour '${refused}'; use a container runner`,
      { details: { field: refused, runner } },
    );
  }
  if (spec.argv[0] === undefined || spec.argv[0] === '') {
    return new CoreError('CORE_SPAWN_FAILED', 'Cannot spawn a process: argv is empty', {
      details: { argv: [...spec.argv] },
    });
  }
  return undefined;
}

/**
 * Spawns the program as the leader of a new process group. Invalid arguments (a NUL byte in argv, a bad
 * env value) throw at once: reported as an error notification, and undefined is returned.
 */
function spawnLeader(spec: ProcessSpec, subscriber: Subscriber<ProcessEvent>): ChildProcess | undefined {
  const program = spec.argv[0] ?? '';
  try {
    return spawn(program, spec.argv.slice(1), {
      cwd: spec.cwd,
      env: buildEnv(spec),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    subscriber.error(spawnFailed(program, spec.cwd, error));
    return undefined;
  }
}

/**
 * One spawned process group, from spawn to its `exit` event: forwards its output, stops it on timeout,
 * abort or unsubscribe (SIGTERM to the group, SIGKILL after the grace), and ends the stream once the
 * leader closed its pipes.
 */
class ProcessGroupRun {
  private readonly pid: number | undefined;
  private readonly program: string;
  private closed = false;
  private exited = false;
  private stopping = false;
  private reason: ExitReason | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private timeoutTimer: NodeJS.Timeout | undefined;
  /** A live member of the group seen by the last check, checked first next time. */
  private lastLive: number | undefined;

  constructor(
    private readonly child: ChildProcess,
    private readonly spec: ProcessSpec,
    private readonly subscriber: Subscriber<ProcessEvent>,
    private readonly events: EventSink,
  ) {
    this.pid = child.pid;
    this.program = spec.argv[0] ?? '';
  }

  /** Wires everything up and emits `started`; returns the subscription's teardown. */
  watch(signal: AbortSignal | undefined): TeardownLogic {
    const onAbort = (): void => this.stop('cancelled');
    this.child.on('error', (error) => this.onError(error));
    if (this.pid === undefined) {
      // Never started: the 'error' event reports why.
      return () => signal?.removeEventListener('abort', onAbort);
    }
    this.child.stdout?.on('data', (data: Buffer) => this.subscriber.next({ type: 'stdout', data }));
    this.child.stderr?.on('data', (data: Buffer) => this.subscriber.next({ type: 'stderr', data }));
    this.child.once('exit', () => this.onExit());
    // 'close' comes after the process exited and both pipes reached EOF, so no output is lost.
    this.child.once('close', (code: number | null, sig: NodeJS.Signals | null) => this.onClose(code, sig));
    signal?.addEventListener('abort', onAbort, { once: true });
    if (this.spec.timeoutMs !== undefined) {
      this.timeoutTimer = setTimeout(() => this.stop('timeout'), this.spec.timeoutMs);
    }
    // Last, so that a consumer aborting or unsubscribing on 'started' finds everything wired up.
    this.subscriber.next({ type: 'started', pid: this.pid });
    return () => {
      signal?.removeEventListener('abort', onAbort);
      if (this.timeoutTimer !== undefined) clearTimeout(this.timeoutTimer);
      // Unsubscribed before the end: the last-resort kill. Output keeps being drained (listeners stay)
      // so the process cannot block on a full pipe while it handles SIGTERM.
      if (!this.closed) this.stop(undefined);
    };
  }

  /**
   * With no pid the process never started. Later errors (a failed fallback kill) must not end a stream
   * that will still get its 'close'.
   */
  private onError(error: Error): void {
    if (this.pid !== undefined) return;
    this.closed = true;
    this.subscriber.error(spawnFailed(this.program, this.spec.cwd, error));
  }

  private onExit(): void {
    this.exited = true;
    this.endStopIfGone();
  }

  private onClose(code: number | null, signal: NodeJS.Signals | null): void {
    this.closed = true;
    if (this.timeoutTimer !== undefined) clearTimeout(this.timeoutTimer);
    this.endStopIfGone();
    this.subscriber.next({
      type: 'exit',
      code,
      signal,
      oomKilled: false,
      ...(this.reason === undefined ? {} : { reason: this.reason }),
    });
    this.subscriber.complete();
  }

  /** SIGTERM now, SIGKILL after the grace unless the whole group is gone before. */
  private stop(why: ExitReason | undefined): void {
    if (this.closed || this.stopping) return;
    this.stopping = true;
    this.reason = why;
    this.killGroup('SIGTERM');
    const graceMs = this.spec.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.killTimer = setTimeout(() => this.escalate(graceMs), graceMs);
    // Only watches: the SIGKILL timer is what keeps this process alive while the group is.
    this.pollTimer = setInterval(() => this.endStopIfGone(), GROUP_POLL_MS);
    this.pollTimer.unref();
  }

  private escalate(graceMs: number): void {
    this.endStop();
    this.events.emit({
      level: 'warning',
      source: 'runner.local',
      message: `process group ${this.pid} ('${this.program}') was still running ${graceMs} ms after SIGTERM; sent SIGKILL`,
      details: { pid: this.pid, program: this.program, graceMs },
    });
    this.killGroup('SIGKILL');
  }

  private killGroup(signal: NodeJS.Signals): void {
    if (this.pid === undefined) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: the group is already gone. Anything else: fall back to the leader alone.
      try {
        this.child.kill(signal);
      } catch {
        /* already gone */
      }
    }
  }

  private groupAlive(): boolean {
    const pid = this.pid;
    if (pid === undefined) return false;
    // The leader is our child: until its exit is reported, the group is certainly there.
    if (!this.exited) return true;
    try {
      process.kill(-pid, 0);
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (this.lastLive !== undefined && isLiveGroupMember(this.lastLive, pid)) return true;
    // Where /proc cannot tell (not Linux, where init reaps orphans), `kill(-pgid, 0)` succeeding is
    // taken to mean a live member exists.
    const member = findLiveGroupMember(pid);
    this.lastLive = member === null ? pid : member;
    return this.lastLive !== undefined;
  }

  private endStop(): void {
    if (this.killTimer !== undefined) clearTimeout(this.killTimer);
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.killTimer = undefined;
    this.pollTimer = undefined;
  }

  /**
   * The SIGKILL timer must outlive the subscription (a TERM-trapping process would otherwise be left
   * behind), but must not hold the event loop once the whole group has gone.
   */
  private endStopIfGone(): void {
    if (this.killTimer !== undefined && !this.groupAlive()) this.endStop();
  }
}

function unsupportedField(spec: ProcessSpec): string | undefined {
  for (const field of UNSUPPORTED_FIELDS) {
    const value = spec[field];
    if (value === undefined) continue;
    // An empty mount list asks for nothing the local runner cannot give.
    if (Array.isArray(value) && value.length === 0) continue;
    return field;
  }
  return undefined;
}

function buildEnv(spec: ProcessSpec): NodeJS.ProcessEnv | undefined {
  // Without extras, let spawn use process.env itself instead of copying it on every process.
  if (spec.env === undefined && spec.resources === undefined) return undefined;
  const env: NodeJS.ProcessEnv = { ...process.env, ...spec.env };
  // The grant wins over anything inherited, so a step never sees GPUs it was not granted.
  if (spec.resources !== undefined) env.CUDA_VISIBLE_DEVICES = spec.resources.gpus.join(',');
  return env;
}

function spawnFailed(program: string, cwd: string | undefined, error: unknown): CoreError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const where = cwd ?? process.cwd();
  let hint = '';
  // ENOENT is reported the same way for a missing program and a missing working directory.
  if (code === 'ENOENT' && cwd !== undefined && !isDirectory(cwd))
    hint = ' (the working directory does not exist)';
  else if (code === 'ENOENT') hint = ' (program not found on PATH)';
  else if (code === 'EACCES') hint = ' (permission denied)';
  return new CoreError(
    'CORE_SPAWN_FAILED',
    `Could not start '${program}' in ${where}: ${code ?? (error instanceof Error ? error.message : String(error))}${hint}`,
    { cause: error, retryable: false, details: { program, cwd: where, errno: code } },
  );
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
