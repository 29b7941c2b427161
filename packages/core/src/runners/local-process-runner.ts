import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { arch, hostname, platform } from 'node:os';
import { Observable } from 'rxjs';
import { injectable } from 'tsyringe';
import type {
  ExecOptions,
  ExitReason,
  ProcessEvent,
  ProcessSpec,
  Runner,
  RunnerIdentityRequest,
} from '../contracts/runner.js';
import { CoreError } from '../errors/core-error.js';

/** Default time between SIGTERM and SIGKILL when stopping a process group. */
export const DEFAULT_KILL_GRACE_MS = 10_000;

/** How often a stopping runner checks whether the process group is gone. */
const GROUP_POLL_MS = 100;

/** Spec fields only sandboxing runners can honour; refusing them beats silently running unsandboxed. */
const UNSUPPORTED_FIELDS = ['image', 'mounts', 'network', 'user'] as const;

/**
 * Runs processes on this host with `child_process.spawn` (no shell). Each process leads its own process
 * group, so stopping it (timeout, abort, unsubscribe) reaches everything it started: SIGTERM to the group,
 * SIGKILL after `killGraceMs`. Granted GPUs become `CUDA_VISIBLE_DEVICES`.
 *
 * A stop ends as soon as the whole group is gone, checked every 100 ms: until then the SIGKILL timer keeps
 * this process alive (it never leaves a live process of the group behind), after that nothing does.
 * Processes of the group that have exited but that nobody reaps (orphans whose new parent, PID 1 in many
 * containers, never waits for them) count as gone on Linux.
 */
@injectable()
export class LocalProcessRunner implements Runner {
  readonly name = 'local';

  /** `local:<hostname>:<platform>-<arch>`: local results are only reusable on the same kind of host. */
  identity(_request?: RunnerIdentityRequest): Promise<string> {
    return Promise.resolve(`local:${hostname()}:${platform()}-${arch()}`);
  }

  exec(spec: ProcessSpec, options: ExecOptions = {}): Observable<ProcessEvent> {
    return new Observable<ProcessEvent>((subscriber) => {
      const refused = unsupportedField(spec);
      if (refused !== undefined) {
        subscriber.error(
          new CoreError(
            'CORE_RUNNER_UNSUPPORTED',
            `The local runner cannot honour '${refused}'; use a container runner`,
            {
              details: { field: refused, runner: this.name },
            },
          ),
        );
        return;
      }
      const program = spec.argv[0];
      if (program === undefined || program === '') {
        subscriber.error(
          new CoreError('CORE_SPAWN_FAILED', 'Cannot spawn a process: argv is empty', {
            details: { argv: [...spec.argv] },
          }),
        );
        return;
      }
      const { signal } = options;
      if (signal?.aborted) {
        // Nothing was started, so there is nothing to stop: report the cancellation without spawning.
        subscriber.next({ type: 'exit', code: null, signal: null, oomKilled: false, reason: 'cancelled' });
        subscriber.complete();
        return;
      }

      let child: ChildProcess;
      try {
        child = spawn(program, spec.argv.slice(1), {
          cwd: spec.cwd,
          env: buildEnv(spec),
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      } catch (error) {
        // Invalid arguments (a NUL byte in argv, a bad env value) throw synchronously.
        subscriber.error(spawnFailed(program, spec.cwd, error));
        return;
      }

      const pid = child.pid;
      let closed = false;
      let exited = false;
      let stopping = false;
      let reason: ExitReason | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      let pollTimer: NodeJS.Timeout | undefined;
      let timeoutTimer: NodeJS.Timeout | undefined;
      /** A live member of the group seen by the last check, checked first next time. */
      let lastLive: number | undefined;

      const killGroup = (sig: NodeJS.Signals): void => {
        if (pid === undefined) return;
        try {
          process.kill(-pid, sig);
        } catch {
          // ESRCH: the group is already gone. Anything else: fall back to the leader alone.
          try {
            child.kill(sig);
          } catch {
            /* already gone */
          }
        }
      };
      const groupAlive = (): boolean => {
        if (pid === undefined) return false;
        // The leader is our child: until its exit is reported, the group is certainly there.
        if (!exited) return true;
        try {
          process.kill(-pid, 0);
        } catch (error) {
          return (error as NodeJS.ErrnoException).code === 'EPERM';
        }
        if (lastLive !== undefined && isLiveMember(lastLive, pid)) return true;
        lastLive = liveGroupMember(pid);
        return lastLive !== undefined;
      };
      const endStop = (): void => {
        if (killTimer !== undefined) clearTimeout(killTimer);
        if (pollTimer !== undefined) clearInterval(pollTimer);
        killTimer = undefined;
        pollTimer = undefined;
      };
      // The SIGKILL timer must outlive the subscription (a TERM-trapping process would otherwise be left
      // behind), but must not hold the event loop once the whole group has gone.
      const endStopIfGone = (): void => {
        if (killTimer !== undefined && !groupAlive()) endStop();
      };
      const stop = (why: ExitReason | undefined): void => {
        if (closed || stopping) return;
        stopping = true;
        reason = why;
        killGroup('SIGTERM');
        killTimer = setTimeout(() => {
          endStop();
          killGroup('SIGKILL');
        }, spec.killGraceMs ?? DEFAULT_KILL_GRACE_MS);
        // Only watches: the SIGKILL timer is what keeps this process alive while the group is.
        pollTimer = setInterval(endStopIfGone, GROUP_POLL_MS);
        pollTimer.unref();
      };
      const onAbort = (): void => stop('cancelled');

      child.on('error', (error) => {
        // With no pid the process never started. Later errors (a failed fallback kill) must not end a
        // stream that will still get its 'close'.
        if (pid === undefined) {
          closed = true;
          subscriber.error(spawnFailed(program, spec.cwd, error));
        }
      });
      if (pid === undefined) {
        return () => signal?.removeEventListener('abort', onAbort);
      }

      child.stdout?.on('data', (data: Buffer) => subscriber.next({ type: 'stdout', data }));
      child.stderr?.on('data', (data: Buffer) => subscriber.next({ type: 'stderr', data }));
      child.once('exit', () => {
        exited = true;
        endStopIfGone();
      });
      // 'close' comes after the process exited and both pipes reached EOF, so no output is lost.
      child.once('close', (code: number | null, sig: NodeJS.Signals | null) => {
        closed = true;
        if (timeoutTimer !== undefined) clearTimeout(timeoutTimer);
        endStopIfGone();
        subscriber.next({
          type: 'exit',
          code,
          signal: sig,
          oomKilled: false,
          ...(reason === undefined ? {} : { reason }),
        });
        subscriber.complete();
      });

      signal?.addEventListener('abort', onAbort, { once: true });
      if (spec.timeoutMs !== undefined) {
        timeoutTimer = setTimeout(() => stop('timeout'), spec.timeoutMs);
      }
      // Last, so that a consumer aborting or unsubscribing on 'started' finds everything wired up.
      subscriber.next({ type: 'started', pid });

      return () => {
        signal?.removeEventListener('abort', onAbort);
        if (timeoutTimer !== undefined) clearTimeout(timeoutTimer);
        // Unsubscribed before the end: the last-resort kill. Output keeps being drained (listeners stay)
        // so the process cannot block on a full pipe while it handles SIGTERM.
        if (!closed) stop(undefined);
      };
    });
  }
}

/**
 * Whether `pid` is a process of group `pgid` that has not exited. Exited processes nobody has reaped yet
 * (zombies) still make `kill(-pgid, 0)` succeed, but there is nothing left to stop.
 */
function isLiveMember(pid: number, pgid: number): boolean {
  const stat = readProcStat(pid);
  return stat !== undefined && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X';
}

/**
 * A live (not exited) member of process group `pgid`, found in `/proc` on Linux; elsewhere, where
 * orphans are reaped by init, `kill(-pgid, 0)` succeeding is taken to mean a live member exists.
 */
function liveGroupMember(pgid: number): number | undefined {
  if (platform() !== 'linux') return pgid;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pgid;
  }
  for (const entry of entries) {
    const first = entry.charCodeAt(0);
    if (first < 48 || first > 57) continue;
    const pid = Number(entry);
    if (isLiveMember(pid, pgid)) return pid;
  }
  return undefined;
}

/** State and process group from `/proc/<pid>/stat`, or undefined if the process is gone. */
function readProcStat(pid: number): { state: string; pgrp: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so parse after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ', 3);
  return { state: fields[0] ?? '', pgrp: Number(fields[2]) };
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
