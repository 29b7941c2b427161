import type { StepProcess } from '../contracts/events.js';
import type { OrphanOutcome, RunnerLookup } from '../contracts/runner.js';
import { stopOrphanedProcess } from '../process/stop-orphaned-process.js';

/**
 * Stops what a step's runner left running when its engine died, from the `process` record: work the
 * runner can look after itself (a cluster job: `Runner.stopOrphaned`) through the runner that recorded it,
 * a process on this host through core's own check (only what is provably the recorded process group).
 * A runner that cannot be asked (not registered in this runtime) leaves its work unchecked.
 */
export async function stopRecordedWork(recorded: StepProcess, runners: RunnerLookup): Promise<OrphanOutcome> {
  const runner = runners.get(recorded.runner);
  if (runner?.stopOrphaned !== undefined && recorded.pid === undefined) return runner.stopOrphaned(recorded);
  return stopOrphanedProcess(recorded);
}

/** How a message names recorded work: `job 123`, `process group 4567`, `process 4567`, `container 1a2b…`. */
export function describeRecordedWork(recorded: StepProcess): string {
  if (recorded.jobId !== undefined) return `job ${recorded.jobId} (runner ${recorded.runner})`;
  if (recorded.pid !== undefined)
    return `${recorded.pgid === undefined ? 'process' : 'process group'} ${recorded.pid}`;
  if (recorded.containerId !== undefined) return `container ${recorded.containerId.slice(0, 12)}`;
  return `the work of runner ${recorded.runner}`;
}
