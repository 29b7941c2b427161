import { EventFileWriter } from '../../src/tensorboard/event-file.js';

const ABOVE = { RMSE_whole_object: 0.5, RMSE_background: 0.02, AEM_VOI_a: 0.006 };
const BELOW = { RMSE_whole_object: 0.001, RMSE_background: 0.001, AEM_VOI_a: 0.001 };

/**
 * Writes one run's log: `reset` at step -1, then `evaluations` evaluations 10 s apart, above the
 * thresholds before `passAt` and below from it on (never below when `passAt` is undefined), so the run
 * passes after (passAt + 1) × 10 s.
 */
export function writeRun(
  dir: string,
  passAt: number | undefined,
  evaluations = 20,
  t0 = 1_700_000_000,
): string {
  const w = EventFileWriter.create(dir, { wallTime: t0 });
  w.addScalar('reset', 0, -1, t0);
  for (let i = 0; i < evaluations; i++) {
    const values = passAt !== undefined && i >= passAt ? BELOW : ABOVE;
    for (const [tag, v] of Object.entries(values)) w.addScalar(tag, v, i, t0 + (i + 1) * 10);
  }
  w.close();
  return w.path;
}
