import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRuntime } from '../src/runtime/create-runtime.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import { MILLION_LINES_COMMAND } from './exec-log.bench.js';
for (let i = 0; i < 8; i++) {
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-log-bench-'));
  const runtime = await createRuntime({ cwd, store: SqliteStore.open({ cwd }) });
  const handle = await runtime.run({
    name: 'log-bench',
    steps: { log: { uses: 'exec', with: { command: MILLION_LINES_COMMAND }, cache: false } },
  });
  await handle.done;
  await runtime.close();
  rmSync(cwd, { recursive: true, force: true });
}
