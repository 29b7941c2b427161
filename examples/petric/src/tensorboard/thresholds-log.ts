import { readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { THRESHOLD } from '../metrics/thresholds.js';
import { EventFileWriter } from './event-file.js';

/**
 * `logs/0_THRESHOLDS` (the backend's `thresholds/draw.py`): each threshold as a scalar at t = 0 and at
 * t = budget (steps 0 and `budgetSeconds`), so TensorBoard draws them as horizontal lines next to every
 * team. One `AEM_VOI_<name>` per VOI name in any dataset. Older event files in the folder are removed
 * after the new one is complete.
 */
export async function writeThresholdsLog(
  dir: string,
  voiNames: Iterable<string>,
  options: { budgetSeconds?: number; wallTime?: number } = {},
): Promise<string> {
  const budget = options.budgetSeconds ?? 3600;
  const t = Math.floor(options.wallTime ?? Date.now() / 1000);
  const names = [...new Set(voiNames)].filter((n) => n !== 'whole_object' && n !== 'background').sort();
  const writer = EventFileWriter.create(dir, { wallTime: t });
  try {
    for (const tic of [0, budget]) {
      for (const name of names) writer.addScalar(`AEM_VOI_${name}`, THRESHOLD.AEM_VOI, tic, t + tic);
      writer.addScalar('RMSE_whole_object', THRESHOLD.RMSE_whole_object, tic, t + tic);
      writer.addScalar('RMSE_background', THRESHOLD.RMSE_background, tic, t + tic);
    }
  } finally {
    writer.close();
  }
  const keep = basename(writer.path);
  for (const name of await readdir(dir)) {
    if (name !== keep && name.startsWith('events.out.tfevents.')) await rm(join(dir, name), { force: true });
  }
  return writer.path;
}
