/**
 * Test fixture for sqlite-store.test.ts: appends batches to one run as fast as it can until killed
 * (or, with `watch-cancel`, until a cancellation is requested, which it then records and exits).
 *
 * Usage: node --conditions=source --import tsx append-loop.ts <db path> <run id> [watch-cancel]
 *
 * Each batch is one step `b<n>`: queued, started, 0–5 log events (some ~64 KB) and succeeded, whose
 * outputs say how many logs the batch had, so the test can tell a partial batch from a whole one.
 * The run is created on the first start and continued from its last seq on later starts.
 */
import type { RunEvent } from '../../contracts/events.js';
import { SqliteStore } from '../sqlite-store.js';

const [path, runId, mode] = process.argv.slice(2);
if (path === undefined || runId === undefined)
  throw new Error('usage: append-loop.ts <db> <run id> [watch-cancel]');

const store = SqliteStore.open({ path });
if ((await store.getRun(runId)) === undefined) {
  await store.createRun({
    id: runId,
    pipeline: 'kill-test',
    plan: { steps: [] },
    params: {},
    cwd: process.cwd(),
    createdAt: Date.now(),
  });
}
let seq = (await store.runState(runId))?.lastSeq ?? 0;
// Step ids continue after those of earlier processes: every batch adds more than one seq.
const batch = seq;
const big = 'L'.repeat(64 * 1024);
const stamp = <T extends object>(init: T): RunEvent =>
  ({ ...init, runId, seq: ++seq, time: Date.now() }) as unknown as RunEvent;

for (let n = 0; ; n++) {
  const stepId = `b${batch + n}`;
  const logs = n % 6;
  const events: RunEvent[] = [stamp({ type: 'queued', stepId })];
  events.push(
    stamp({
      type: 'started',
      stepId,
      attempt: 1,
      resources: { cpus: 1, memoryMb: 0, gpus: [] },
      key: `k-${stepId}`,
      keyParts: { command: 'exec', commandVersion: '1', params: '{}', inputs: {}, runner: '-' },
    }),
  );
  for (let i = 0; i < logs; i++) {
    events.push(
      stamp({
        type: 'log',
        stepId,
        attempt: 1,
        stream: 'stdout',
        text: i === 0 && n % 12 === 5 ? big : `line ${i}`,
      }),
    );
  }
  events.push(
    stamp({ type: 'succeeded', stepId, attempt: 1, outputs: { logs }, artifacts: [], durationMs: 1 }),
  );
  await store.append(runId, events);
  if (n === 0) process.stdout.write('appending\n');
  if (mode === 'watch-cancel') {
    const reason = await store.cancelRequested(runId);
    if (reason !== undefined) {
      await store.append(runId, [stamp({ type: 'run-cancelled', reason, durationMs: 1 })]);
      await store.close();
      process.stdout.write(`cancelled after ${n + 1} batches\n`);
      process.exit(0);
    }
  }
}
