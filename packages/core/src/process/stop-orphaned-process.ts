import type { StepProcess } from '../contracts/events.js';
import type { OrphanOutcome } from '../contracts/runner.js';
import { DEFAULT_KILL_GRACE_MS } from '../runners/local-process-runner.js';
import { sleep } from '../util/sleep.js';
import {
  findLiveGroupMember,
  hostBootId,
  hostName,
  isLiveProcess,
  readProcStat,
} from './process-identity.js';

const POLL_MS = 50;

/**
 * Stops a step's process that outlived the engine that started it (`kill -9` of the engine leaves the
 * step's process group running under PID 1): SIGTERM to its group, SIGKILL after `graceMs`, and resolves
 * once nothing of it is left. It only ever signals what it can prove is the recorded work: same host, same
 * boot, and a group leader with the recorded start time, or, once that leader has exited, members of its
 * group that started after it (a process group id cannot be reused while the group has members).
 */
export async function stopOrphanedProcess(
  recorded: StepProcess,
  // The grace LocalProcessRunner gives a step it stops.
  graceMs = DEFAULT_KILL_GRACE_MS,
): Promise<OrphanOutcome> {
  const { pid, startTime } = recorded;
  if (pid === undefined || startTime === undefined || recorded.host !== hostName()) return 'unchecked';
  const boot = hostBootId();
  if (boot === undefined) return 'unchecked';
  if (recorded.bootId !== boot) return recorded.bootId === undefined ? 'unchecked' : 'gone';

  const leads = recorded.pgid === pid;
  const alive = (): boolean => (leads ? groupAlive(pid, startTime) : leaderAlive(pid, startTime));
  if (!alive()) return 'gone';
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(leads ? -pid : pid, sig);
    } catch {
      // ESRCH: gone meanwhile.
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await sleep(POLL_MS);
    if (!alive()) return 'stopped';
  }
  signal('SIGKILL');
  // SIGKILL cannot be caught; what is left is the kernel tearing the processes down.
  for (let i = 0; i < 100 && alive(); i++) await sleep(POLL_MS);
  return 'stopped';
}

/** The recorded process itself is alive: same pid, same start time, not exited. */
function leaderAlive(pid: number, startTime: number): boolean {
  const stat = readProcStat(pid);
  return stat !== undefined && stat.startTime === startTime && isLiveProcess(pid, stat);
}

/** A live process of group `pgid` that belongs to the recorded work. */
function groupAlive(pgid: number, startTime: number): boolean {
  const leader = readProcStat(pgid);
  if (leader !== undefined && isLiveProcess(pgid, leader)) {
    // A live process with this pid but another start time means the group is gone and the pid reused.
    return leader.startTime === startTime;
  }
  // Only members that started after the leader: a group id cannot be reused while the group has members.
  return typeof findLiveGroupMember(pgid, startTime) === 'number';
}
