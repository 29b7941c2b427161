/**
 * `rank/compute.py` of the PETRIC backend: per (version, dataset) the median pass time over runs, the
 * mean distance above thresholds and the standard deviation of the time; per dataset an order by
 * (time, distance, deviation, name) with Python's tuple comparison (a NaN compares as neither smaller nor
 * larger, so a single run's undefined deviation never breaks a tie); overall an order by the sum of
 * per-dataset ranks, ties in order of first appearance.
 */

import { pythonSort } from './python-sort.js';

/** One version's runs on one dataset. */
export interface VersionRuns {
  /** `team/version`. */
  algorithm: string;
  dataset: string;
  /** One entry per rankable log; empty when the folder holds none. */
  runs: readonly { time: number; distance: number }[];
}

/** A row of a dataset's table. */
export interface DatasetRow {
  rank: number;
  algorithm: string;
  /** Median pass time in seconds; Infinity when it never passed or has no run. */
  time: number;
  /** Sample standard deviation of the pass times (NaN with one run, as numpy's `ddof=1`). */
  timeStdev: number;
  /** Mean distance above thresholds at the last evaluation. */
  distance: number;
  runs: number;
}

/** The whole ranking. */
export interface Ranking {
  datasets: { name: string; rows: DatasetRow[] }[];
  /** Overall order: 1-based position, algorithm, sum of per-dataset ranks. */
  overall: { position: number; algorithm: string; rankSum: number }[];
  /** Mean over datasets of the finite median pass times, per algorithm that passed somewhere. */
  averageTimes: { algorithm: string; seconds: number }[];
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.some(Number.isNaN)) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function stdevSample(values: number[]): number {
  if (values.length < 2) return NaN;
  const m = mean(values);
  return Math.sqrt(values.reduce((a, v) => a + (v - m) ** 2, 0) / (values.length - 1));
}

type Key = [number, number, number, string];

/**
 * Python's `<` on `((t, d, s), name)`: the first unequal element decides (a NaN is unequal to
 * everything and smaller than nothing); names decide only when all three numbers are equal.
 */
function lessPython(a: Key, b: Key): boolean {
  for (let i = 0; i < 3; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (x !== y) return x < y;
  }
  return a[3] < b[3];
}

/** Ranks every version; `entries` in walk order (teams, versions, datasets sorted). */
export function rank(entries: readonly VersionRuns[]): Ranking {
  const byDataset = new Map<string, { key: Key; runs: number }[]>();
  const algorithms: string[] = [];
  for (const e of entries) {
    if (!algorithms.includes(e.algorithm)) algorithms.push(e.algorithm);
    const times = e.runs.map((r) => r.time);
    const key: Key = e.runs.length
      ? [median(times), mean(e.runs.map((r) => r.distance)), stdevSample(times), e.algorithm]
      : [Infinity, Infinity, Infinity, e.algorithm];
    let list = byDataset.get(e.dataset);
    if (!list) byDataset.set(e.dataset, (list = []));
    list.push({ key, runs: e.runs.length });
  }
  // A version without a log for a dataset is last there (time, distance, deviation all infinite).
  for (const list of byDataset.values()) {
    const present = new Set(list.map((x) => x.key[3]));
    for (const a of algorithms)
      if (!present.has(a)) list.push({ key: [Infinity, Infinity, Infinity, a], runs: 0 });
  }

  const rankSums = new Map<string, number>();
  const finiteTimes = new Map<string, number[]>();
  const datasets: Ranking['datasets'] = [];
  for (const [name, list] of byDataset) {
    pythonSort(list, (x, y) => lessPython(x.key, y.key));
    const rows = list.map(({ key: [time, distance, timeStdev, algorithm], runs }, i): DatasetRow => {
      rankSums.set(algorithm, (rankSums.get(algorithm) ?? 0) + i + 1);
      if (Number.isFinite(time) || time === -Infinity) {
        let t = finiteTimes.get(algorithm);
        if (!t) finiteTimes.set(algorithm, (t = []));
        t.push(time);
      }
      return { rank: i + 1, algorithm, time, timeStdev, distance, runs };
    });
    datasets.push({ name, rows });
  }
  const overall = pythonSort([...rankSums], (a, b) => a[1] < b[1]).map(([algorithm, rankSum], i) => ({
    position: i + 1,
    algorithm,
    rankSum,
  }));
  const averageTimes = [...finiteTimes].map(([algorithm, t]) => ({ algorithm, seconds: mean(t) }));
  return { datasets, overall, averageTimes };
}
