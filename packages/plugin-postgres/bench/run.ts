// Benchmarks the distributed mode against raw pg-boss in the same script (the floor: send → fetch →
// complete, no Beamline), on the test database (scripts/setup-test-env.sh).
//   npm run bench    (in packages/plugin-postgres)
// For 1, 2 and 4 workers: N no-op steps at once (fan-out) through a coordinator runtime (PostgresStore +
// the queue plugin) and in-process QueueWorkers (each with its own connections, concurrency 4), vs N
// pg-boss jobs sent at once and taken by as many raw fetch/complete loops (concurrency 4 each). The step's
// runner is a no-op (`noop`: started and exit at once, no process) so that the queue's cost is measured;
// one row runs `true` through the local runner for the cost with a process. Rounds interleaved, medians.
// Statements per step: every SQL statement this process sent while the run went (coordinator, store,
// workers, pg-boss; idle polls included), divided by the steps.
// Claim-to-start latency: Beamline, the step's `started` (enqueued) to its `process` event (the worker's
// process started, as the coordinator records it); raw, `send` to the moment a loop holds the job.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { createRuntime, MemoryStore, Tokens } from '@beamline/core';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { createPostgresPlugin, PostgresStore, QueueConnection, QueueWorker } from '../src/index.js';
import { parseLabels } from '../src/queue/requirement.js';
import { PostgresWorkerQueue } from '../src/worker/postgres-worker-queue.js';
import { TEST_URL } from '../test/support/database.js';
import { noopPlugin, percentile } from './support.js';

const STEPS = Number(process.env.BENCH_STEPS ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WORKERS = [1, 2, 4];
const CONCURRENCY = 4;

interface Measure {
  stepsPerSecond: number;
  p50: number;
  p99: number;
  /** SQL statements sent per step (or job) while the run went, by every client of this process. */
  statements: number;
}

// Every statement of this process goes through pg's Client#query (pools, pg-boss and the store alike):
// counted between the start and the end of a measured run.
let statements = 0;
const query = Reflect.get(pg.Client.prototype, 'query') as (...args: unknown[]) => unknown;
Reflect.set(pg.Client.prototype, 'query', function (this: pg.Client, ...args: unknown[]) {
  statements++;
  return query.apply(this, args);
});

function median(values: number[]): number {
  return percentile(values, 50);
}

async function beamline(workers: number, runner: 'noop' | 'local'): Promise<Measure> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const cwd = mkdtempSync(path.join(tmpdir(), 'beamline-pg-bench-'));
  const store = await PostgresStore.open({ url: TEST_URL, schema });
  const runtime = await createRuntime({
    store,
    cwd,
    maxParallel: 1_000,
    plugins: [noopPlugin, createPostgresPlugin({ url: TEST_URL, schema, lease: '30s' })],
  });
  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    for (let i = 0; i < workers; i++) {
      const connection = await QueueConnection.open({ url: TEST_URL, schema });
      const host = await createRuntime({ store: new MemoryStore(), plugins: [noopPlugin] });
      const worker = new QueueWorker({
        queue: new PostgresWorkerQueue(connection),
        runners: host.resolve(Tokens.Runners),
        pool: host.resolve(Tokens.ResourcePool),
        labels: parseLabels(''),
        concurrency: CONCURRENCY,
        pollMs: 200,
      });
      worker.start();
      started.push({
        stop: async () => {
          await worker.stop();
          await connection.close();
          await host.close();
        },
      });
    }
    const steps = Object.fromEntries(
      Array.from({ length: STEPS }, (_, i) => [
        `s${i}`,
        { uses: 'exec', needs: [] as string[], runner, cache: false, with: { command: ['true'] } },
      ]),
    );
    const begin = performance.now();
    const before = statements;
    const run = await runtime.run({ name: 'bench', steps });
    const result = await run.done;
    const seconds = (performance.now() - begin) / 1000;
    const sent = statements - before;
    if (result.status !== 'succeeded')
      throw new Error(
        `bench run ${result.status}: ${JSON.stringify(result.error ?? Object.values(result.steps).find((step) => step.error)?.error)}`,
      );
    const enqueued = new Map<string, number>();
    const latencies: number[] = [];
    for await (const event of store.readEvents(run.id, {
      types: ['started', 'process'],
    })) {
      if (event.type === 'started') enqueued.set(event.stepId, event.time);
      if (event.type === 'process') latencies.push(event.time - (enqueued.get(event.stepId) ?? event.time));
    }
    return {
      stepsPerSecond: STEPS / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      statements: sent / STEPS,
    };
  } finally {
    for (const worker of started) await worker.stop();
    await runtime.close();
    await dropSchema(schema);
  }
}

async function rawPgBoss(workers: number): Promise<Measure> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const queue = 'bench';
  const sender = new PgBoss({
    connectionString: TEST_URL,
    schema: `${schema}_boss`,
    supervise: false,
    schedule: false,
  });
  await sender.start();
  await sender.createQueue(queue);
  const bosses: PgBoss[] = [];
  for (let i = 0; i < workers; i++) {
    const boss = new PgBoss({
      connectionString: TEST_URL,
      schema: `${schema}_boss`,
      supervise: false,
      schedule: false,
      migrate: false,
    });
    await boss.start();
    bosses.push(boss);
  }
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let done = 0;
  let running = true;
  const loops: Promise<void>[] = [];
  for (const boss of bosses) {
    for (let c = 0; c < CONCURRENCY; c++) {
      loops.push(
        (async () => {
          while (running) {
            const [job] = await boss.fetch<{ i: number }>(queue, { batchSize: 1 });
            if (job === undefined) {
              await new Promise((resolve) => setTimeout(resolve, 200));
              continue;
            }
            latencies.push(performance.now() - (sentAt.get(job.id) ?? performance.now()));
            await boss.complete(queue, job.id);
            done++;
          }
        })(),
      );
    }
  }
  const begin = performance.now();
  const before = statements;
  await Promise.all(
    Array.from({ length: STEPS }, async (_, i) => {
      const at = performance.now();
      const id = await sender.send(queue, { i });
      if (id !== null) sentAt.set(id, at);
    }),
  );
  while (done < STEPS) await new Promise((resolve) => setTimeout(resolve, 5));
  const seconds = (performance.now() - begin) / 1000;
  const sent = statements - before;
  running = false;
  await Promise.all(loops);
  for (const boss of [sender, ...bosses]) await boss.stop({ graceful: false, wait: true, close: true });
  await dropSchema(`${schema}_boss`);
  return {
    stepsPerSecond: STEPS / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    statements: sent / STEPS,
  };
}

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
}

const rows: Array<Record<string, string | number>> = [];
const load = loadavg()[0]!.toFixed(1);
for (const workers of WORKERS) {
  const ours: Measure[] = [];
  const raw: Measure[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Interleaved, alternating which goes first.
    if (round % 2 === 0) {
      ours.push(await beamline(workers, 'noop'));
      raw.push(await rawPgBoss(workers));
    } else {
      raw.push(await rawPgBoss(workers));
      ours.push(await beamline(workers, 'noop'));
    }
  }
  const m = (list: Measure[], key: keyof Measure) => median(list.map((x) => x[key]));
  rows.push({
    workers,
    'beamline steps/s': Math.round(m(ours, 'stepsPerSecond')),
    'raw pg-boss jobs/s': Math.round(m(raw, 'stepsPerSecond')),
    ratio: Number((m(ours, 'stepsPerSecond') / m(raw, 'stepsPerSecond')).toFixed(2)),
    'beamline claim-to-start p50/p99 ms': `${Math.round(m(ours, 'p50'))} / ${Math.round(m(ours, 'p99'))}`,
    'raw p50/p99 ms': `${Math.round(m(raw, 'p50'))} / ${Math.round(m(raw, 'p99'))}`,
    'beamline ms/step': Number((1000 / m(ours, 'stepsPerSecond')).toFixed(1)),
    'statements/step beamline / raw': `${m(ours, 'statements').toFixed(1)} / ${m(raw, 'statements').toFixed(1)}`,
  });
}
const withProcess = await beamline(2, 'local');
const result = {
  machine: `${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, load ${load} at start`,
  steps: STEPS,
  rounds: ROUNDS,
  concurrencyPerWorker: CONCURRENCY,
  rows,
  localTrueWith2Workers: {
    stepsPerSecond: Math.round(withProcess.stepsPerSecond),
    p50: Math.round(withProcess.p50),
    p99: Math.round(withProcess.p99),
  },
};
console.table(rows);
console.log(JSON.stringify(result, null, 2));
mkdirSync(path.join(process.cwd(), 'bench-results'), { recursive: true });
writeFileSync(
  path.join(process.cwd(), 'bench-results', 'postgres.json'),
  `${JSON.stringify(result, null, 2)}\n`,
);
