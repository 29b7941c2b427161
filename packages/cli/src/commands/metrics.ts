import type { Store } from '@beamline/core';

/** The latest value of each metric a step recorded in a run, in first-seen order. */
export async function latestMetrics(
  store: Store,
  runId: string,
  stepId: string,
): Promise<Map<string, number>> {
  const metrics = new Map<string, number>();
  for await (const event of store.readEvents(runId, { stepId, types: ['metric'] })) {
    if (event.type === 'metric') metrics.set(event.name, event.value);
  }
  return metrics;
}
