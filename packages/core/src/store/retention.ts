import type { RetentionPolicy, RunStatus } from '../contracts/store.js';
import { CoreError } from '../errors/core-error.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** What the retention rule needs to know of a run. */
export interface RetentionCandidate {
  id: string;
  status: RunStatus;
  createdAt: number;
  updatedAt: number;
}

/**
 * The runs a {@link RetentionPolicy} lets go, from `runs` ordered newest first (by creation): not
 * running, not among the newest `keepRuns`, not updated within `keepDays` of `now`; nothing when neither
 * limit is given. The one rule every Store applies.
 */
export function runsToCollect(
  runs: readonly RetentionCandidate[],
  policy: RetentionPolicy,
  now: number,
): string[] {
  checkRetentionPolicy(policy);
  // No limit at all is no reason to delete anything.
  if (policy.keepDays === undefined && policy.keepRuns === undefined) return [];
  const cutoff = policy.keepDays === undefined ? Infinity : now - policy.keepDays * DAY_MS;
  return runs
    .filter((run, index) => {
      if (run.status === 'running') return false;
      if (policy.keepRuns !== undefined && index < policy.keepRuns) return false;
      return run.updatedAt < cutoff;
    })
    .map((run) => run.id);
}

/** @throws CoreError `CORE_PARAMS_INVALID` for a limit that is negative or not a number. */
export function checkRetentionPolicy(policy: RetentionPolicy): void {
  const limits: [name: string, value: unknown, whole: boolean][] = [
    ['keepDays', policy.keepDays, false],
    ['keepRuns', policy.keepRuns, true],
  ];
  for (const [name, value, whole] of limits) {
    if (value === undefined) continue;
    if (typeof value === 'number' && value >= 0 && (!whole || Number.isInteger(value))) continue;
    throw new CoreError(
      'CORE_PARAMS_INVALID',
      `retention ${name} must be a ${whole ? 'whole ' : ''}number ≥ 0, got ${JSON.stringify(value)}`,
      { details: { [name]: value } },
    );
  }
}
