/**
 * CPython's `list.sort` for lists shorter than 64 (what a leaderboard is): the leading run (reversed when
 * strictly descending), then binary insertion, using only `lt` (Python's `<`). With a consistent order
 * this is any stable sort; it matters where `<` is not one (tuples holding NaN, which the original
 * ranking sorts), so the result is the one CPython 3.11 gives. Longer lists are sorted with the same
 * binary insertion (stable; identical wherever `lt` is a strict weak order).
 */
export function pythonSort<T>(items: T[], lt: (a: T, b: T) => boolean): T[] {
  const a = items;
  const n = a.length;
  if (n < 2) return a;
  // count_run
  let run = 2;
  if (lt(a[1]!, a[0]!)) {
    while (run < n && lt(a[run]!, a[run - 1]!)) run++;
    a.splice(0, run, ...a.slice(0, run).reverse());
  } else {
    while (run < n && !lt(a[run]!, a[run - 1]!)) run++;
  }
  // binarysort
  for (let start = run; start < n; start++) {
    const pivot = a[start]!;
    let l = 0;
    let r = start;
    while (l < r) {
      const p = l + ((r - l) >> 1);
      if (lt(pivot, a[p]!)) r = p;
      else l = p + 1;
    }
    a.splice(start, 1);
    a.splice(l, 0, pivot);
  }
  return a;
}
