/**
 * Test fixture for sqlite-gc.test.ts: opens a store in another process and either collects garbage
 * (`gc <keep days> [<fs function>:<n>]`: prints `collecting`, then the report as JSON) or appends large
 * log events to one run until killed (`append <run id>`: prints `appending` after the first batch).
 *
 * With `<fs function>:<n>` (`writeSync:3`, `renameSync:1`, …) the process kills itself with SIGKILL at
 * the n-th call of that `node:fs` function, before it runs: a crash at an exact point of a collection.
 *
 * Usage: node --conditions=source --import tsx gc-store.ts <db path> gc <keep days> [<fn>:<n>]
 *        node --conditions=source --import tsx gc-store.ts <db path> append <run id>
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import type { RunEvent } from '../../contracts/events.js';
import { logText } from './log-text.js';

const [path, mode, arg, crashAt] = process.argv.slice(2);
if (path === undefined || arg === undefined) throw new Error('usage: gc-store.ts <db> gc|append <arg>');

if (crashAt !== undefined) {
  const [name, nth] = crashAt.split(':') as [keyof typeof fs, string];
  const real = fs[name] as (...args: unknown[]) => unknown;
  let calls = 0;
  (fs as unknown as Record<string, unknown>)[name] = (...args: unknown[]): unknown => {
    if (++calls === Number(nth)) process.kill(process.pid, 'SIGKILL');
    return real(...args);
  };
  // The store imports named bindings of node:fs: they follow the patched object from here on.
  syncBuiltinESMExports();
}
const { SqliteStore } = await import('../sqlite-store.js');
const store = SqliteStore.open({ path });

if (mode === 'gc') {
  process.stdout.write('collecting\n');
  const report = await store.collectGarbage({ keepDays: Number(arg) });
  process.stdout.write(`${JSON.stringify(report)}\n`);
  await store.close();
} else {
  const runId = arg;
  let seq = (await store.runState(runId))?.lastSeq ?? 0;
  for (let batch = 0; ; batch++) {
    const events: RunEvent[] = [];
    for (let i = 0; i < 4; i++) {
      seq += 1;
      events.push({
        runId,
        seq,
        time: Date.now(),
        type: 'log',
        stepId: 's',
        attempt: 1,
        stream: 'stdout',
        text: logText(runId, seq),
      });
    }
    await store.append(runId, events);
    if (batch === 0) process.stdout.write('appending\n');
    // About 6 MB/s: fast enough to append during every phase of a collection, slow enough that the
    // collection still has garbage to give back.
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
