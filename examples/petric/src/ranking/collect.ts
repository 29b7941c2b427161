import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readEventFile } from '../tensorboard/event-reader.js';
import { isRankable, passTime } from './pass-time.js';
import type { VersionRuns } from './rank.js';

/** The folder of threshold lines next to the teams, skipped by the ranking. */
export const THRESHOLDS_DIR = '0_THRESHOLDS';

/** Options for {@link collectRuns}. */
export interface CollectOptions {
  /** Only these datasets (the original's `DATASET_WHITELIST`); default: every dataset found. */
  datasets?: readonly string[];
  /** Early-stop window (10). */
  window?: number;
}

/** Something unusual about one log file, as the original logs it. */
export interface CollectWarning {
  path: string;
  message: string;
}

async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/**
 * Walks `logdir/<team>/<version>/<dataset>/events.out.tfevents.*` (sorted by name; symbolic links
 * are not followed) and computes each rankable log's pass time. Logs without both RMSE tags, and
 * unreadable ones, are skipped with a warning.
 */
export async function collectRuns(
  logdir: string,
  options: CollectOptions = {},
): Promise<{ entries: VersionRuns[]; warnings: CollectWarning[] }> {
  const only = options.datasets ? new Set(options.datasets) : undefined;
  const entries: VersionRuns[] = [];
  const warnings: CollectWarning[] = [];
  for (const team of await subdirs(logdir)) {
    if (team === THRESHOLDS_DIR) continue;
    for (const version of await subdirs(join(logdir, team))) {
      for (const dataset of await subdirs(join(logdir, team, version))) {
        if (only && !only.has(dataset)) continue;
        const dir = join(logdir, team, version, dataset);
        const files = (await readdir(dir, { withFileTypes: true }))
          .filter((e) => e.isFile() && e.name.startsWith('events.out.tfevents.'))
          .map((e) => e.name)
          .sort();
        const runs: { time: number; distance: number }[] = [];
        for (const name of files) {
          const path = join(dir, name);
          try {
            const { scalars, tail } = await readEventFile(path);
            if (tail)
              warnings.push({ path, message: `${tail.reason} record at byte ${tail.offset}: read up to it` });
            if (!isRankable(scalars)) {
              warnings.push({
                path,
                message: 'no RMSE_whole_object and RMSE_background scalars: not ranked',
              });
              continue;
            }
            const result = passTime(scalars, options.window);
            for (const message of result.warnings) warnings.push({ path, message });
            runs.push({ time: result.time, distance: result.distance });
          } catch (error) {
            warnings.push({ path, message: `unreadable: ${(error as Error).message}` });
          }
        }
        entries.push({ algorithm: `${team}/${version}`, dataset, runs });
      }
    }
  }
  return { entries, warnings };
}
