// npm run bench: (1) time and bytes fetched for two consecutive tasks on the same AODs, the agent as it
// is (grid cache) against the original's behaviour (data folder emptied before every poll: a fresh
// cache per task), interleaved over rounds; (2) claim throughput and correctness with 8 machines
// polling one coordinator at once.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { formatBytes } from '@beamline/core';
import pg from 'pg';
import { AliceAgent } from '../src/agent/agent.js';
import { AliceClient } from '../src/client/alice-client.js';
import { loadAgentConfig } from '../src/config/agent-config.js';
import { Coordinator } from '../src/coordinator/coordinator.js';
import { FakeGoServer } from '../test/support/go-server.js';
import { CountingStorage } from '../test/support/storage.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const AOD_COUNT = 4;
const AOD_SIZE = 64 * 1024 * 1024;
const SCRIPTS = fileURLToPath(new URL('../scripts', import.meta.url));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function twoTasks(root: string, storage: CountingStorage, aods: object[], freshCache: boolean) {
  const server = new FakeGoServer();
  server.addMachine(1, 'bench-secret');
  await server.start();
  const work = mkdtempSync(join(root, 'agent-'));
  const figures: { seconds: number; bytes: number }[] = [];
  for (const id of [1, 2]) {
    server.addTask({ ID: id, AODFiles: aods, Configuration: { epochs: 3 } });
    const env = {
      MACHINE_ID: '1',
      MACHINE_SECRET_KEY: 'bench-secret',
      ALICETRAINT_BASE_URL: server.url,
      ALICETRAINT_DATA_DIR_PATH: join(work, 'data'),
      ALICETRAINT_SCRIPTS_DIR_PATH: SCRIPTS,
      ALICETRAINT_VENV_DIR_PATH: join(work, 'venv'),
      ALICETRAINT_RESULTS_DIR_PATH: join(work, 'results'),
      ALICETRAINT_PDI_SRC_DIR_PATH: join(work, 'pdi'),
      ALICETRAINT_POOLING_WAIT_SECONDS: '0.05',
      ALICETRAINT_STAGES: 'standin',
      ALICETRAINT_GRID_REPLICA_URLS: storage.url,
      // The original empties its data folder before every poll: nothing fetched survives a task.
      ALICETRAINT_GRID_CACHE_DIR_PATH: freshCache ? join(work, `cache-${id}`) : join(work, 'cache'),
    };
    const before = storage.bytesSent;
    const start = performance.now();
    const agent = new AliceAgent({
      config: loadAgentConfig({ env, cwd: work }),
      onTaskEnd: (_, outcome) => {
        if (outcome !== 'completed') throw new Error(`task ${id}: ${outcome}`);
        agent.stop();
      },
    });
    await agent.run();
    figures.push({ seconds: (performance.now() - start) / 1000, bytes: storage.bytesSent - before });
    if (freshCache) rmSync(join(work, `cache-${id}`), { recursive: true, force: true });
  }
  await server.close();
  rmSync(work, { recursive: true, force: true });
  return figures;
}

async function benchTasks(root: string) {
  const se = join(root, 'se');
  const aods = Array.from({ length: AOD_COUNT }, (_, i) => {
    const path = `/alice/sim/2024/LHC24f3/0/52339${i}/AOD/001/AO2D.root`;
    mkdirSync(join(se, path, '..'), { recursive: true });
    writeFileSync(join(se, path), randomBytes(AOD_SIZE));
    return {
      Name: 'AO2D.root',
      Path: path,
      Size: AOD_SIZE,
      LHCPeriod: 'LHC24f3',
      RunNumber: 523390 + i,
      AODNumber: 1,
    };
  });
  const storage = new CountingStorage(se);
  await storage.start();
  const rows: Record<'beamline' | 'original', { seconds: number; bytes: number }[][]> = {
    beamline: [],
    original: [],
  };
  for (let round = 0; round < ROUNDS; round++) {
    // Interleaved, alternating which goes first.
    const order = round % 2 === 0 ? (['beamline', 'original'] as const) : (['original', 'beamline'] as const);
    for (const mode of order) rows[mode].push(await twoTasks(root, storage, aods, mode === 'original'));
  }
  await storage.close();
  const summary = (mode: 'beamline' | 'original') =>
    [0, 1].map((i) => ({
      task: i + 1,
      seconds: median(rows[mode].map((r) => r[i]!.seconds)),
      bytes: median(rows[mode].map((r) => r[i]!.bytes)),
    }));
  return { beamline: summary('beamline'), original: summary('original') };
}

const POSTGRES_URL =
  process.env.BEAMLINE_TEST_POSTGRES_URL ?? 'postgres://beamline:beamline@127.0.0.1:5432/beamline_test';

async function benchClaims(root: string, postgres: boolean) {
  const schema = `alicetraint_bench_${process.pid}`;
  const coordinator = await Coordinator.open({
    dir: join(root, postgres ? 'coordinator-pg' : 'coordinator'),
    ...(postgres && { postgresUrl: POSTGRES_URL, postgresSchema: schema }),
  });
  await coordinator.start();
  const TASKS = 4000;
  for (let i = 0; i < TASKS; i++) await coordinator.addTask({ aodFiles: [], name: `t${i}` });
  const machines = await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      const m = await coordinator.registerMachine(`m${i}`);
      return new AliceClient({ baseUrl: coordinator.url, machineId: String(m.id), secretKey: m.secret });
    }),
  );
  // The first poll of each machine verifies its 64 MiB Argon2id hash; later ones are served from memory.
  const firstStart = performance.now();
  const first = await Promise.all(machines.map((m) => m.pollTask()));
  const firstPollsMs = performance.now() - firstStart;
  const start = performance.now();
  const got = await Promise.all(
    machines.map(async (m) => {
      const ids: number[] = [];
      for (;;) {
        const t = await m.pollTask();
        if (!t) return ids;
        ids.push(t.ID);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const all = [...first.map((t) => t!.ID), ...got.flat()];
  const unique = new Set(all).size;
  await coordinator.stop();
  if (postgres) {
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
    await client.end();
  }
  return {
    store: postgres ? 'postgres' : 'sqlite',
    tasks: TASKS,
    claimed: all.length,
    duplicates: all.length - unique,
    claimsPerSecond: Math.round(got.flat().length / seconds),
    firstPollsMs: Math.round(firstPollsMs),
  };
}

const root = mkdtempSync(join(tmpdir(), 'alice-bench-'));
try {
  const load = loadavg()[0]!.toFixed(1);
  const only = process.env.BENCH_ONLY;
  const tasks = only === 'claims' ? undefined : await benchTasks(root);
  const postgresUp = await new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 })
    .connect()
    .then(
      async (c) => (await c.end(), true),
      () => false,
    );
  const claims = [await benchClaims(root, false), ...(postgresUp ? [await benchClaims(root, true)] : [])];
  if (tasks) {
    console.log(
      `load ${load}, ${ROUNDS} rounds, ${AOD_COUNT} AODs of ${formatBytes(AOD_SIZE)} on loopback storage`,
    );
    for (const mode of ['beamline', 'original'] as const) {
      for (const t of tasks[mode]) {
        console.log(
          `${mode.padEnd(8)} task ${t.task}: ${t.seconds.toFixed(2)} s, ${formatBytes(t.bytes)} fetched`,
        );
      }
    }
  }
  for (const c of claims) {
    console.log(
      `claims (${c.store}, load ${load}): ${c.claimed}/${c.tasks} claimed by 8 machines at once, ` +
        `${c.duplicates} handed out twice, ${c.claimsPerSecond} claims/s ` +
        `(first poll of the 8 machines, Argon2id 64 MiB each: ${c.firstPollsMs} ms)`,
    );
  }
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(
    'bench-results/alicetraint.json',
    JSON.stringify({ load, rounds: ROUNDS, tasks, claims }, null, 2),
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
