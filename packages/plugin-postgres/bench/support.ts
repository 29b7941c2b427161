import type { ProcessEvent, Runner } from '@beamline/core';
import { Observable } from 'rxjs';

/** A runner that does nothing: `started`, then `exit 0` (the queue's cost is what is measured). */
const noop: Runner = {
  name: 'noop',
  identity: () => Promise.resolve('noop'),
  exec: () =>
    new Observable<ProcessEvent>((subscriber) => {
      subscriber.next({ type: 'started', pid: 0 });
      subscriber.next({ type: 'exit', code: 0, signal: null, oomKilled: false });
      subscriber.complete();
    }),
};

/** A plugin registering {@link noop}. */
export const noopPlugin = {
  name: 'noop',
  register: (registry: { addRunner(r: Runner): void }) => registry.addRunner(noop),
};

/** The `p`-th percentile (nearest rank) of `values`; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
