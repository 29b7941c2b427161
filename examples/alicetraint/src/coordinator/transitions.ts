import { TaskStatus } from '../client/wire.js';

const NAMES: Record<number, string> = {
  0: 'Failed',
  1: 'Queued',
  2: 'Training',
  3: 'Benchmarking',
  4: 'Completed',
  5: 'Uploaded',
};

/** The name of a status number. */
export function statusName(status: number): string {
  return NAMES[status] ?? `status ${status}`;
}

/**
 * What a training machine may post, by the task's current status (the original server accepted any
 * value 0–5 from any state). The same status again is accepted as a no-op: an agent that retries a
 * post whose answer was lost must not be refused.
 */
const MACHINE_TRANSITIONS: Readonly<Record<number, readonly number[]>> = {
  [TaskStatus.Training]: [TaskStatus.Benchmarking, TaskStatus.Failed],
  [TaskStatus.Benchmarking]: [TaskStatus.Completed, TaskStatus.Failed],
  [TaskStatus.Completed]: [],
  [TaskStatus.Failed]: [],
};

/** Why a machine may not move a task from `from` to `to`, or `undefined` when it may. */
export function machineTransitionError(from: number, to: number): string | undefined {
  if (from === to) return undefined;
  if (to === TaskStatus.Queued || to === TaskStatus.Training || to === TaskStatus.Uploaded) {
    return `a training machine cannot set ${statusName(to)} (${to}); it posts Benchmarking (3), Completed (4) or Failed (0)`;
  }
  const allowed = MACHINE_TRANSITIONS[from];
  if (allowed === undefined) return `the task is ${statusName(from)}, not running on a machine`;
  if (!allowed.includes(to)) {
    return allowed.length === 0
      ? `the task is already ${statusName(from)} (${from}); it cannot become ${statusName(to)} (${to})`
      : `the task is ${statusName(from)} (${from}); it can become ${allowed.map((s) => `${statusName(s)} (${s})`).join(' or ')}, not ${statusName(to)} (${to})`;
  }
  return undefined;
}
