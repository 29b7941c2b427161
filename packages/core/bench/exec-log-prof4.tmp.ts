import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRuntime } from '../src/runtime/create-runtime.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import { MILLION_LINES_COMMAND } from './exec-log.bench.js';
for (let i = 0; i < 5; i++) {
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-log-bench-'));
  const runtime = await createRuntime({ cwd, store: SqliteStore.open({ cwd }) });
  const c = process.cpuUsage();
  const start = performance.now();
  const handle = await runtime.run({
    name: 'log-bench',
    steps: { log: { uses: 'exec', with: { command: MILLION_LINES_COMMAND }, cache: false } },
  });
  let exitAt = 0;
  let firstLog = 0;
  let lastLog = 0;
  (handle as any).events?.on?.('log', () => {
    lastLog = performance.now() - start;
    firstLog ||= lastLog;
  });
  (handle as any).events?.on?.('succeeded', () => {
    exitAt = performance.now() - start;
  });
  await handle.done;
  const ms = performance.now() - start;
  const u = process.cpuUsage(c);
  console.log(
    `${ms.toFixed(0)}ms firstLog ${firstLog.toFixed(0)} lastLog ${lastLog.toFixed(0)} succeeded ${exitAt.toFixed(0)} cpu u${(u.user / 1000).toFixed(0)} s${(u.system / 1000).toFixed(0)}`,
  );
  await runtime.close();
  rmSync(cwd, { recursive: true, force: true });
}
