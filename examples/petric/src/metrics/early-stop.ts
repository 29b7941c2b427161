import { thresholdFor } from './thresholds.js';

/**
 * PETRIC's early stop: counts consecutive evaluations where every metric is at or below its threshold
 * (a miss starts the count again); {@link update} says stop once the count reaches the window (10).
 */
export class ThresholdWindow {
  private count = 0;

  constructor(readonly window = 10) {
    if (!Number.isInteger(window) || window < 1)
      throw new RangeError(`window must be a positive integer, got ${window}`);
  }

  /** Consecutive passing evaluations so far. */
  get passing(): number {
    return this.count;
  }

  /** Records one evaluation; true when the run should stop. */
  update(metrics: ReadonlyMap<string, number>): boolean {
    let all = true;
    for (const [tag, value] of metrics) if (!(value <= thresholdFor(tag))) all = false;
    this.count = all ? this.count + 1 : 0;
    return this.count >= this.window;
  }
}

/**
 * PETRIC's `QualityMetrics.pass_index`: the first evaluation from which every metric stays at or below
 * its threshold for `window` consecutive evaluations (scipy's `binary_erosion` with a `window`-wide
 * structure and origin `-(window // 2)`, outside the array counting as failed), or -1 when there is none
 * (where the original raises `IndexError`).
 */
export function passIndex(
  rows: readonly (readonly number[])[],
  thresholds: readonly number[],
  window = 10,
): number {
  let run = 0;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    if (row.length !== thresholds.length) {
      throw new Error(`evaluation ${i} has ${row.length} metrics, expected ${thresholds.length}`);
    }
    run = row.every((v, k) => v <= thresholds[k]!) ? run + 1 : 0;
    if (run >= window) return i - window + 1;
  }
  return -1;
}
