import type { IncomingMessage } from 'node:http';
import type { Engine } from '../client/engine.js';

/** `oom` and `die` events of one container, watched from before its start. */
export interface OomWatch {
  /**
   * Resolves once the container is known to be gone (its `destroy` event, or `die` and `oom` both seen),
   * or after `graceMs`, with whether an `oom` event came. The daemon may send `oom` after `die`.
   */
  oomKilled(graceMs: number): Promise<boolean>;
  close(): void;
}

/**
 * With AutoRemove the container cannot be inspected after it exits, so `State.OOMKilled` is lost
 * (pitfall 12). The daemon still sends `oom`, `die` and `destroy` events: this opens a label-filtered
 * event stream before start and remembers them. `oom` is not ordered before `die` (both come from
 * containerd's event monitor), so the answer waits for `destroy`, which AutoRemove sends after both.
 */
export async function watchOom(engine: Engine, jobLabel: string): Promise<OomWatch> {
  const res: IncomingMessage = await engine.events([jobLabel], ['oom', 'die', 'destroy']);
  let oom = false;
  let dead = false;
  let gone!: () => void;
  const goneP = new Promise<void>((resolve) => (gone = resolve));
  let buffered = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        const event = JSON.parse(line) as { Action?: string; status?: string };
        const action = event.Action ?? event.status;
        if (action === 'oom') oom = true;
        if (action === 'die') dead = true;
        if (action === 'destroy' || (dead && oom)) gone();
      } catch {
        // Not an event line.
      }
    }
  });
  res.on('error', () => gone());
  res.on('end', () => gone());
  return {
    async oomKilled(graceMs) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([goneP, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      return oom;
    },
    close: () => res.destroy(),
  };
}
