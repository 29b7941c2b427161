// Benchmarks workers behind the HTTPS gateway against workers on the database, in the same script, on the
// test database (scripts/setup-test-env.sh):
//   npm run bench:gateway    (in packages/plugin-postgres; BENCH_STEPS, BENCH_ROUNDS)
// For 1 and 2 workers: N no-op steps at once (fan-out) through a coordinator runtime (PostgresStore + the
// queue plugin) and in-process QueueWorkers (concurrency 4 each), either on PostgreSQL directly
// (PostgresWorkerQueue) or through one in-process gateway over TLS (HttpWorkerQueue, a self-signed
// certificate made with openssl, a token per worker). The runner is a no-op so that the transport's cost
// is measured. Rounds interleaved (alternating which goes first), medians.
// Claim-to-start latency: the step's `started` (enqueued) to its `process` event (the worker's process
// started, as the coordinator records it).
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { createRuntime, MemoryStore, Tokens } from '@beamline/core';
import pg from 'pg';
import {
  createPostgresPlugin,
  GatewayTokens,
  HttpWorkerQueue,
  PostgresStore,
  PostgresWorkerQueue,
  QueueConnection,
  QueueWorker,
  startGateway,
} from '../src/index.js';
import { parseLabels } from '../src/queue/requirement.js';
import { TEST_URL } from '../test/support/database.js';
import { selfSignedCertificate } from '../test/support/gateway.js';
import { noopPlugin, percentile } from './support.js';

const STEPS = Number(process.env.BENCH_STEPS ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WORKERS = [1, 2];
const CONCURRENCY = 4;

interface Measure {
  stepsPerSecond: number;
  p50: number;
  p99: number;
}

const certDir = mkdtempSync(path.join(tmpdir(), 'beamline-gateway-bench-'));
const { cert, key } = selfSignedCertificate(certDir, ['127.0.0.1']);

async function measure(workers: number, via: 'direct' | 'gateway'): Promise<Measure> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const cwd = mkdtempSync(path.join(tmpdir(), 'beamline-pg-bench-'));
  const store = await PostgresStore.open({ url: TEST_URL, schema });
  const runtime = await createRuntime({
    store,
    cwd,
    maxParallel: 1_000,
    plugins: [noopPlugin, createPostgresPlugin({ url: TEST_URL, schema, lease: '30s' })],
  });
  const stops: Array<() => Promise<void>> = [];
  try {
    const gateway =
      via === 'gateway'
        ? await startGateway({ url: TEST_URL, schema, host: '127.0.0.1', port: 0, cert, key })
        : undefined;
    if (gateway !== undefined) stops.push(() => gateway.stop());
    for (let i = 0; i < workers; i++) {
      let queue: PostgresWorkerQueue | HttpWorkerQueue;
      if (gateway === undefined) {
        const connection = await QueueConnection.open({ url: TEST_URL, schema });
        stops.unshift(() => connection.close());
        queue = new PostgresWorkerQueue(connection);
      } else {
        const { tokens, close } = await GatewayTokens.open({ url: TEST_URL, schema });
        const token = await tokens.add(`bench-${i}`);
        await close();
        const http = await HttpWorkerQueue.open({ url: gateway.url, token, ca: cert });
        stops.unshift(() => Promise.resolve(http.close()));
        queue = http;
      }
      const host = await createRuntime({ store: new MemoryStore(), plugins: [noopPlugin] });
      const worker = new QueueWorker({
        queue,
        runners: host.resolve(Tokens.Runners),
        pool: host.resolve(Tokens.ResourcePool),
        labels: parseLabels(''),
        concurrency: CONCURRENCY,
        pollMs: 200,
      });
      worker.start();
      stops.unshift(async () => {
        await worker.stop();
        await host.close();
      });
    }
    const steps = Object.fromEntries(
      Array.from({ length: STEPS }, (_, i) => [
        `s${i}`,
        { uses: 'exec', needs: [] as string[], runner: 'noop', cache: false, with: { command: ['true'] } },
      ]),
    );
    const begin = performance.now();
    const run = await runtime.run({ name: 'bench', steps });
    const result = await run.done;
    const seconds = (performance.now() - begin) / 1000;
    if (result.status !== 'succeeded') throw new Error(`bench run ${result.status}`);
    const enqueued = new Map<string, number>();
    const latencies: number[] = [];
    for await (const event of store.readEvents(run.id, { types: ['started', 'process'] })) {
      if (event.type === 'started') enqueued.set(event.stepId, event.time);
      if (event.type === 'process') latencies.push(event.time - (enqueued.get(event.stepId) ?? event.time));
    }
    return {
      stepsPerSecond: STEPS / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
    };
  } finally {
    for (const stop of stops) await stop();
    await runtime.close();
    const client = new pg.Client({ connectionString: TEST_URL });
    await client.connect();
    for (const name of [schema, `${schema}_boss`])
      await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
    await client.end();
    rmSync(cwd, { recursive: true, force: true });
  }
}

const rows: Array<Record<string, string | number>> = [];
const load = loadavg()[0]!.toFixed(1);
for (const workers of WORKERS) {
  const direct: Measure[] = [];
  const gateway: Measure[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order: Array<'direct' | 'gateway'> =
      round % 2 === 0 ? ['direct', 'gateway'] : ['gateway', 'direct'];
    for (const via of order) (via === 'direct' ? direct : gateway).push(await measure(workers, via));
  }
  const m = (list: Measure[], field: keyof Measure) =>
    percentile(
      list.map((x) => x[field]),
      50,
    );
  rows.push({
    workers,
    'direct steps/s': Math.round(m(direct, 'stepsPerSecond')),
    'gateway steps/s': Math.round(m(gateway, 'stepsPerSecond')),
    'gateway / direct': Number((m(gateway, 'stepsPerSecond') / m(direct, 'stepsPerSecond')).toFixed(2)),
    'direct claim-to-start p50/p99 ms': `${Math.round(m(direct, 'p50'))} / ${Math.round(m(direct, 'p99'))}`,
    'gateway claim-to-start p50/p99 ms': `${Math.round(m(gateway, 'p50'))} / ${Math.round(m(gateway, 'p99'))}`,
  });
}
rmSync(certDir, { recursive: true, force: true });
const result = {
  machine: `${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, load ${load} at start`,
  steps: STEPS,
  rounds: ROUNDS,
  concurrencyPerWorker: CONCURRENCY,
  rows,
};
console.table(rows);
console.log(JSON.stringify(result, null, 2));
mkdirSync(path.join(process.cwd(), 'bench-results'), { recursive: true });
writeFileSync(
  path.join(process.cwd(), 'bench-results', 'gateway.json'),
  `${JSON.stringify(result, null, 2)}\n`,
);
