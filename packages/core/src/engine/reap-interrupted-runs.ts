import type { StepProcess } from '../contracts/events.js';
import type { EventSink } from '../contracts/runtime.js';
import type { Store } from '../contracts/store.js';
import { stopOrphanedProcess } from '../process/stop-orphaned-process.js';

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
 * containers are left to their runner's janitor. Each stopped process is reported as a warning to `events`.
 * Failures to read the store are not this function's to report: it gives up quietly and the runtime starts
 * anyway.
 */
export async function reapInterruptedRuns(store: Store, events?: EventSink): Promise<ReapedProcess[]> {
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
        if ((await stopOrphanedProcess(process)) !== 'stopped') return;
        reaped.push({ runId: run.id, stepId, process });
        const what = process.pgid === undefined ? 'process' : 'process group';
        events?.emit({
          level: 'warning',
          source: 'engine',
          message: `Stopped ${what} ${process.pid} of step "${stepId}", left running by interrupted run ${run.id} (its engine died); resume the run to run the step again.`,
          details: { runId: run.id, stepId, process },
        });
      }),
    );
  }
  return reaped;
}
