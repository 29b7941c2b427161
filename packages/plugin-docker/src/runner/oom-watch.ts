import type { IncomingMessage } from 'node:http';
import type { Engine } from '../client/engine.js';

/** `oom` and `die` events of one container, watched from before its start. */
export interface OomWatch {
  /** Resolves once the `die` event arrived (or after `graceMs`), with whether an `oom` event came first. */
  oomKilled(graceMs: number): Promise<boolean>;
  close(): void;
}

/**
 * With AutoRemove the container cannot be inspected after it exits, so `State.OOMKilled` is lost
 * (pitfall 12). The daemon still sends `oom`, `die` and `destroy` events: this opens a label-filtered
 * event stream before start and remembers them.
 */
export async function watchOom(engine: Engine, jobLabel: string): Promise<OomWatch> {
  const res: IncomingMessage = await engine.events([jobLabel], ['oom', 'die']);
  let oom = false;
  let died!: () => void;
  const diedP = new Promise<void>((resolve) => (died = resolve));
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
        if (action === 'die') died();
      } catch {
        // Not an event line.
      }
    }
  });
  res.on('error', () => died());
  res.on('end', () => died());
  return {
    async oomKilled(graceMs) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([diedP, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      return oom;
    },
    close: () => res.destroy(),
  };
}
