import type { StepProcess } from '../contracts/events.js';
import type { RunnerLookup } from '../contracts/runner.js';
import type { EventSink } from '../contracts/runtime.js';
import type { Store } from '../contracts/store.js';
import { describeRecordedWork, stopRecordedWork } from './stop-recorded-work.js';

/** What {@link reapInterruptedRuns} stopped. */
export interface ReapedProcess {
  runId: string;
  stepId: string;
  process: StepProcess;
}

/**
 * Stops the step processes of interrupted runs (status `running`, engine dead on this host): `kill -9` of
 * an engine leaves its running steps' process groups alive under PID 1, holding GPUs and writing files
 * nobody records. A runtime does this when it starts, so leftovers do not wait for a `resume` that may
 * never come. Only processes proven to be the recorded ones are signalled (see `stopOrphanedProcess`);
 * work a runner looks after itself (a cluster job) is stopped through that runner (`Runner.stopOrphaned`),
 * and containers are left to their runner's janitor. Each stopped process or job is reported as a warning
 * to `events`. Failures to read the store are not this function's to report: it gives up quietly and the
 * runtime starts anyway; a runner that cannot stop its work now is reported and the work left.
 */
export async function reapInterruptedRuns(
  store: Store,
  runners: RunnerLookup,
  events?: EventSink,
): Promise<ReapedProcess[]> {
  const reaped: ReapedProcess[] = [];
  let runs;
  try {
    runs = await store.listRuns({ status: 'running' });
  } catch {
    return reaped;
  }
  for (const run of runs) {
    if (run.interrupted !== true) continue;
    const state = await store.runState(run.id).catch(() => undefined);
    const orphans = Object.values(state?.steps ?? {}).flatMap((step) =>
      step.status === 'running' && step.process !== undefined
        ? [{ stepId: step.stepId, process: step.process }]
        : [],
    );
    await Promise.all(
      orphans.map(async ({ stepId, process }) => {
        const what = describeRecordedWork(process);
        try {
          if ((await stopRecordedWork(process, runners)) !== 'stopped') return;
        } catch (error) {
          events?.emit({
            level: 'warning',
            source: 'engine',
            message: `Could not stop ${what} of step "${stepId}", left running by interrupted run ${run.id}: ${error instanceof Error ? error.message : String(error)}`,
            details: { runId: run.id, stepId, process },
          });
          return;
        }
        reaped.push({ runId: run.id, stepId, process });
        events?.emit({
          level: 'warning',
          source: 'engine',
          message: `Stopped ${what} of step "${stepId}", left running by interrupted run ${run.id} (its engine died); resume the run to run the step again.`,
          details: { runId: run.id, stepId, process },
        });
      }),
    );
  }
  return reaped;
}
