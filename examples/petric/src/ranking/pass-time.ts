import type { ScalarPoint } from '../tensorboard/event-reader.js';
import { passIndex } from '../metrics/early-stop.js';
import { THRESHOLD } from '../metrics/thresholds.js';

/** Metric tags a log is ranked on: these and every tag they prefix (`rank/compute.py`'s `TAGS`). */
const TAGS = ['RMSE_whole_object', 'RMSE_background', 'AEM_VOI'];
/** Tags the original skips (a VOI named after the whole object). */
const TAG_BLACKLIST = new Set(['AEM_VOI_VOI_whole_object']);

/** One log's result: seconds from the first `reset` to passing (Infinity if never), mean distance above thresholds at the last step. */
export interface LogResult {
  time: number;
  distance: number;
  /** What was unusual about the log (no `reset`, ragged tags), as the original logs it. */
  warnings: string[];
}

/** A log counts only if it has both RMSE tags (`valid()` in `rank/compute.py`). */
export function isRankable(scalars: ReadonlyMap<string, readonly ScalarPoint[]>): boolean {
  return (
    (scalars.get('RMSE_whole_object')?.length ?? 0) > 0 && (scalars.get('RMSE_background')?.length ?? 0) > 0
  );
}

/**
 * `pass_time()` of `rank/compute.py`: the wall time of the pass index minus the wall time of the first
 * `reset` (or of the first evaluation where there is no `reset`), and the mean over metrics of the last
 * evaluation's value minus its threshold. Where tags have different numbers of evaluations (a run cut
 * off between two tags; the original fails on it) the common leading evaluations are used.
 */
export function passTime(scalars: ReadonlyMap<string, readonly ScalarPoint[]>, window = 10): LogResult {
  const warnings: string[] = [];
  let start = 0;
  const reset = scalars.get('reset')?.[0];
  if (!reset) warnings.push('no reset scalar: timing from the first evaluation');
  else if (reset.value !== 0 || reset.step !== -1) {
    warnings.push(
      `first reset is ${reset.value} at step ${reset.step}, expected 0 at step -1: timing from the first evaluation`,
    );
  } else start = reset.wallTime;

  const others = [...scalars.keys()].filter(
    (tag) =>
      tag !== 'RMSE_whole_object' &&
      tag !== 'RMSE_background' &&
      TAGS.some((prefix) => tag.startsWith(prefix)) &&
      !TAG_BLACKLIST.has(tag),
  );
  const series = [
    scalars.get('RMSE_whole_object') ?? [],
    scalars.get('RMSE_background') ?? [],
    ...others.map((t) => scalars.get(t)!),
  ];
  const thresholds = [
    THRESHOLD.RMSE_whole_object,
    THRESHOLD.RMSE_background,
    ...others.map(() => THRESHOLD.AEM_VOI),
  ];
  series.forEach((points, k) => {
    for (let i = 1; i < points.length; i++) {
      if (points[i]!.step < points[i - 1]!.step)
        throw new Error(
          `steps of ${k < 2 ? ['RMSE_whole_object', 'RMSE_background'][k] : others[k - 2]} are not in order`,
        );
    }
  });
  const length = Math.min(...series.map((s) => s.length));
  if (series.some((s) => s.length !== length))
    warnings.push(`tags have different numbers of evaluations: using the first ${length}`);
  const rows = Array.from({ length }, (_, i) => series.map((s) => s[i]!.value));
  const last = rows[length - 1] ?? [];
  const distance = last.reduce((sum, v, k) => sum + (v - thresholds[k]!), 0) / thresholds.length;
  const i = passIndex(rows, thresholds, window);
  if (i < 0) return { time: Infinity, distance, warnings };
  const wall = series[0]!;
  return { time: wall[i]!.wallTime - (start || wall[0]!.wallTime), distance, warnings };
}
