import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRuntime } from '../src/runtime/create-runtime.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import { MILLION_LINES_COMMAND } from './exec-log.bench.js';

/** Milliseconds for a one-step pipeline running `cmd` through `exec`, its log persisted by a SqliteStore. */
export async function timeExecPersisted(
  cmd: string = MILLION_LINES_COMMAND,
): Promise<{ ms: number; logEvents: number }> {
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-log-bench-'));
  const runtime = await createRuntime({ cwd, store: SqliteStore.open({ cwd }) });
  try {
    const start = performance.now();
    const handle = await runtime.run({
      name: 'log-bench',
      steps: { log: { uses: 'exec', with: { command: cmd }, cache: false } },
    });
    const result = await handle.done;
    const ms = performance.now() - start;
    if (result.status !== 'succeeded') throw new Error(`log bench run ${result.status}`);
    let logEvents = 0;
    for await (const event of runtime.store.readEvents(handle.id, { types: ['log'] }))
      if (event.type === 'log') logEvents++;
    return { ms, logEvents };
  } finally {
    await runtime.close();
    rmSync(cwd, { recursive: true, force: true });
  }
}
