/**
 * Monotonic nanoseconds as a plain number (`performance.now()` scaled): the statistics' clock. A number,
 * not `process.hrtime.bigint()`, because every request reads it several times and a BigInt is a heap
 * allocation each; a double keeps nanosecond resolution for the first 100 days of a process.
 */
export const nowNs = (): number => performance.now() * 1e6;

/** Nanoseconds from `from` to `to` (default now). */
export const elapsedNs = (from: number, to: number = nowNs()): number => to - from;
