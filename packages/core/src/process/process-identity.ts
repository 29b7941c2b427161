import { readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { RunOwner } from '../contracts/store.js';

/** What `/proc/<pid>/stat` says about a process (Linux). */
export interface ProcStat {
  /** One letter: `R`, `S`, `D`, `Z` (exited, not yet reaped), … */
  state: string;
  /** Process group id. */
  pgrp: number;
  /** Clock ticks since boot when the process started: with the pid, identifies it for the host's uptime. */
  startTime: number;
}

/**
 * State, process group and start time of a process from `/proc/<pid>/stat`; undefined when the process
 * does not exist or `/proc` is not there (not Linux).
 */
export function readProcStat(pid: number): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so fields are counted after the
  // last ')'. Field 3 (state) is then index 0, field 5 (pgrp) index 2, field 22 (starttime) index 19.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const pgrp = Number(fields[2]);
  const startTime = Number(fields[19]);
  if (!Number.isSafeInteger(pgrp) || !Number.isSafeInteger(startTime)) return undefined;
  return { state: fields[0] ?? '', pgrp, startTime };
}

/** Whether `pid` is a process that has not exited (a zombie has: nothing is left of it to stop). */
export function isLiveProcess(pid: number, stat = readProcStat(pid)): boolean {
  if (stat !== undefined) return stat.state !== 'Z' && stat.state !== 'X';
  // No /proc entry: gone on Linux; elsewhere ask the kernel.
  if (process.platform === 'linux') return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether `pid` is a live (not exited) process of group `pgid` that started at or after `startedSince`
 * (clock ticks since boot). Exited processes nobody has reaped yet (zombies) still make `kill(-pgid, 0)`
 * succeed, but there is nothing left of them to stop.
 */
export function isLiveGroupMember(pid: number, pgid: number, startedSince = 0): boolean {
  const stat = readProcStat(pid);
  return (
    stat !== undefined && stat.pgrp === pgid && stat.startTime >= startedSince && isLiveProcess(pid, stat)
  );
}

/**
 * A live process of group `pgid` (see {@link isLiveGroupMember}), found by listing `/proc`: undefined when
 * the group has none, null where `/proc` cannot be listed (not Linux) and nothing can be said, so that
 * each caller decides what an unknown means.
 */
export function findLiveGroupMember(pgid: number, startedSince = 0): number | null | undefined {
  if (process.platform !== 'linux') return null;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }
  for (const entry of entries) {
    // Only the numeric entries are processes.
    const first = entry.charCodeAt(0);
    if (first < 48 || first > 57) continue;
    const pid = Number(entry);
    if (isLiveGroupMember(pid, pgid, startedSince)) return pid;
  }
  return undefined;
}

let cachedBootId: string | null | undefined;

/** This host's boot id (`/proc/sys/kernel/random/boot_id`), or undefined where there is none. */
export function hostBootId(): string | undefined {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim() || null;
    } catch {
      cachedBootId = null;
    }
  }
  return cachedBootId ?? undefined;
}

/** The host name as Beamline records it with runs and processes. */
export function hostName(): string {
  return hostname();
}

/**
 * Whether a process recorded as `pid` (with the host, boot id and start time known when it was recorded)
 * is certainly gone: it was on this host, and the host rebooted since, or no live process has that pid, or
 * the process that has it now started at another time (the pid was reused). A process recorded on another
 * host cannot be checked and is never called gone.
 */
export function recordedProcessGone(recorded: RunOwner, thisHost = hostName()): boolean {
  if (recorded.host !== thisHost) return false;
  const boot = hostBootId();
  if (recorded.bootId !== undefined && boot !== undefined && recorded.bootId !== boot) return true;
  const stat = readProcStat(recorded.pid);
  if (!isLiveProcess(recorded.pid, stat)) return true;
  return recorded.startTime !== undefined && stat !== undefined && stat.startTime !== recorded.startTime;
}

/** This process as a run's owner is recorded: pid, host, and (Linux) boot id and start time. */
export function currentProcessIdentity(): RunOwner {
  const bootId = hostBootId();
  const startTime = readProcStat(process.pid)?.startTime;
  return {
    pid: process.pid,
    host: hostName(),
    ...(bootId === undefined ? {} : { bootId }),
    ...(startTime === undefined ? {} : { startTime }),
  };
}
