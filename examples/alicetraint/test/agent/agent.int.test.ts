import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AliceAgent, type TaskOutcome } from '../../src/agent/agent.js';
import { CCDB_MODEL_NAMES } from '../../src/client/wire.js';
import { loadAgentConfig } from '../../src/config/agent-config.js';
import { isAliceError } from '../../src/errors/alice-error.js';
import { FakeGoServer } from '../support/go-server.js';
import { agentEnv, makeAods } from '../support/fixtures.js';
import { CountingStorage } from '../support/storage.js';

const MACHINE = { id: 4, secret: 'agent-secret-0123456789abcdef' };
const STAGES = [
  'grid_download',
  'pidml_producer',
  'pdi_process',
  'pdi_data_exploration',
  'pdi_train',
  'pdi_benchmark',
];

let server: FakeGoServer;
let storage: CountingStorage;
let fixture: ReturnType<typeof makeAods>;
beforeEach(async () => {
  fixture = makeAods(2);
  server = new FakeGoServer();
  server.addMachine(MACHINE.id, MACHINE.secret);
  await server.start();
  storage = new CountingStorage(fixture.storage);
  await storage.start();
});
afterEach(async () => {
  await server.close();
  await storage.close();
  rmSync(fixture.dir, { recursive: true, force: true });
});

/** Runs an agent in this process until `tasks` tasks ended; returns their outcomes and its log. */
async function runAgent(
  tasks: number,
  env: Record<string, string> = agentEnv(fixture.dir, server.url, storage.url, MACHINE),
): Promise<{ outcomes: [number, TaskOutcome][]; log: string[] }> {
  const outcomes: [number, TaskOutcome][] = [];
  const log: string[] = [];
  const agent = new AliceAgent({
    config: loadAgentConfig({ env, cwd: fixture.dir }),
    heartbeatMs: 500,
    pollBackoff: { initialDelayMs: 100, maxDelayMs: 500 },
    log: (line) => log.push(line),
    onTaskEnd: (id, outcome) => {
      outcomes.push([id, outcome]);
      if (outcomes.length >= tasks) agent.stop();
    },
  });
  await agent.run();
  return { outcomes, log };
}

describe('the agent against a server that behaves as the Go web interface', () => {
  it('runs a task end to end: stages, logs, plots and the six CCDB models uploaded, Benchmarking then Completed', async () => {
    const task = server.addTask({ ID: 11, AODFiles: fixture.aods, Configuration: { epochs: 5 } });
    const { outcomes, log } = await runAgent(1);
    expect(outcomes, log.join('\n')).toEqual([[11, 'completed']]);
    expect(task.posted).toEqual([3, 4]);

    const names = task.results.map((r) => r.Name);
    for (const stage of STAGES) {
      expect(names).toContain(`${stage}_out.log`);
      expect(names).toContain(`${stage}_err.log`);
    }
    expect(names.filter((n) => n.endsWith('.onnx')).sort()).toEqual([...CCDB_MODEL_NAMES].sort());
    const types = new Map(task.results.map((r) => [r.Name, r.Type]));
    expect(types.get('kaon.onnx')).toBe(2);
    expect(types.get('efficiency.png')).toBe(1);
    expect(types.get('pdi_train_out.log')).toBe(0);
    expect(names).toEqual(expect.arrayContaining(['p.png', 'species.png', 'purity.png', 'antiproton.png']));
    // Real files: PNG signature, ONNX protobuf starting with ir_version (field 1, varint).
    const png = task.results.find((r) => r.Name === 'efficiency.png')!;
    expect(png.Data.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(task.results.find((r) => r.Name === 'kaon.onnx')!.Data[0]).toBe(0x08);
    // The producer really read the downloaded files.
    const producer = task.results.find((r) => r.Name === 'pidml_producer_out.log')!.Data.toString();
    expect(producer).toMatch(/producer: 2 files, 120000 bytes read/);

    // Status Benchmarking comes after the models and before the benchmark plots.
    const order = server.requests.map((r) =>
      r.url.endsWith('/status') ? `status ${r.body.toString()}` : r.url,
    );
    const statusAt = order.indexOf('status {"Status":3}');
    const uploads = server.requests.map((r) => r.body.toString('latin1'));
    const lastOnnx = uploads.findLastIndex((b) => b.includes('filename="antipion.onnx"'));
    const firstBenchmark = uploads.findIndex((b) => b.includes('filename="pdi_benchmark_out.log"'));
    expect(lastOnnx).toBeLessThan(statusAt);
    expect(statusAt).toBeLessThan(firstBenchmark);

    // The task's folders are gone; the grid cache keeps the AODs.
    const config = loadAgentConfig({
      env: agentEnv(fixture.dir, server.url, storage.url, MACHINE),
      cwd: fixture.dir,
    });
    expect(existsSync(join(config.dataDir, 'tasks', '11'))).toBe(false);
    expect(existsSync(join(config.resultsDir, '11'))).toBe(false);
    expect(existsSync(join(config.dataDir, 'agent-task.json'))).toBe(false);
    expect(readdirSync(config.gridCacheDir).length).toBeGreaterThan(0);
  });

  it('downloads nothing for a second task on the same AODs (the grid cache)', async () => {
    server.addTask({ ID: 1, AODFiles: fixture.aods, Configuration: { epochs: 2 } });
    server.addTask({ ID: 2, AODFiles: fixture.aods, Configuration: { epochs: 2 } });
    let afterFirst = -1;
    const agentRun = runAgent(2);
    const { outcomes } = await agentRun;
    afterFirst = storage.bytesSent;
    expect(outcomes).toEqual([
      [1, 'completed'],
      [2, 'completed'],
    ]);
    expect(afterFirst).toBe(120_000);
    const second = server
      .task(2)
      .results.find((r) => r.Name === 'grid_download_out.log')!
      .Data.toString();
    expect(second).toMatch(/0 to fetch/);
  });

  it('a failing stage uploads its logs, posts Failed, and uploads nothing after it', async () => {
    const task = server.addTask({
      ID: 21,
      AODFiles: fixture.aods,
      Configuration: { epochs: 2, standin: { fail: 'train' } },
    });
    const { outcomes } = await runAgent(1);
    expect(outcomes).toEqual([[21, 'failed']]);
    expect(task.posted).toEqual([0]);
    const names = task.results.map((r) => r.Name);
    expect(names).toContain('pdi_train_out.log');
    const err = task.results.find((r) => r.Name === 'pdi_train_err.log')!.Data.toString();
    expect(err).toContain('train: failing as the task');
    expect(err).toMatch(/exit(ed)? (with )?(code )?3|code 3/);
    expect(names.some((n) => n.endsWith('.onnx'))).toBe(false);
    expect(names).not.toContain('pdi_benchmark_out.log');
  });

  it('an AOD missing on storage fails the download stage: its logs name the file, Failed is posted', async () => {
    const task = server.addTask({
      ID: 22,
      AODFiles: [{ ...fixture.aods[0], Path: '/alice/sim/missing/AO2D.root' }],
    });
    const { outcomes } = await runAgent(1);
    expect(outcomes).toEqual([[22, 'failed']]);
    expect(task.posted).toEqual([0]);
    const err = task.results.find((r) => r.Name === 'grid_download_err.log')!.Data.toString();
    expect(err).toContain('/alice/sim/missing/AO2D.root');
  });

  it('a 401 on a poll stops the agent with a clear message', async () => {
    const env = {
      ...agentEnv(fixture.dir, server.url, storage.url, MACHINE),
      MACHINE_SECRET_KEY: 'not-the-secret',
    };
    const error = await runAgent(1, env).catch((e: unknown) => e);
    expect(isAliceError(error, 'ALICE_UNAUTHORIZED')).toBe(true);
    expect((error as Error).message).toMatch(/MACHINE_ID and MACHINE_SECRET_KEY do not match/);
  });

  it('keeps polling while the server is down or failing, then finishes the task', async () => {
    server.failWith = 503;
    server.addTask({ ID: 31, AODFiles: fixture.aods, Configuration: { epochs: 2 } });
    const port = Number(new URL(server.url).port);
    await server.close();
    const pending = runAgent(1);
    await new Promise((r) => setTimeout(r, 1500));
    const restarted = new FakeGoServer();
    restarted.addMachine(MACHINE.id, MACHINE.secret);
    restarted.failWith = 503;
    const task = restarted.addTask({ ID: 31, AODFiles: fixture.aods, Configuration: { epochs: 2 } });
    await restarted.start(port);
    await new Promise((r) => setTimeout(r, 1000));
    restarted.failWith = undefined;
    const { outcomes, log } = await pending;
    await restarted.close();
    expect(outcomes).toEqual([[31, 'completed']]);
    expect(task.posted).toEqual([3, 4]);
    expect(log.some((l) => /poll failed .*ECONNREFUSED/.test(l))).toBe(true);
    expect(log.some((l) => /poll failed .*HTTP 503/.test(l))).toBe(true);
  });

  it('a task it cannot read is reported Failed at once (not left Training), and the next task runs', async () => {
    const bad = server.addTask({ ID: 41, AODFiles: [{ Name: 'AO2D.root' }] });
    const good = server.addTask({ ID: 42, AODFiles: fixture.aods, Configuration: { epochs: 2 } });
    const { outcomes, log } = await runAgent(2);
    expect(outcomes).toEqual([
      [41, 'failed'],
      [42, 'completed'],
    ]);
    expect(bad.posted).toEqual([0]);
    expect(good.posted).toEqual([3, 4]);
    expect(
      log.some((l) =>
        l.includes('task 41: poll: the task is not {ID, AODFiles, Configuration}: AODFiles.0.Path'),
      ),
    ).toBe(true);
  });

  it('refuses a second agent on the same data folder while the first runs', async () => {
    server.addTask({
      ID: 51,
      AODFiles: fixture.aods,
      Configuration: { epochs: 2, standin: { sleepMs: { producer: 1500 } } },
    });
    const env = agentEnv(fixture.dir, server.url, storage.url, MACHINE);
    const first = runAgent(1, env);
    await new Promise((r) => setTimeout(r, 500));
    const second = await runAgent(1, env).catch((e: unknown) => e);
    expect(isAliceError(second, 'ALICE_STATE_INVALID')).toBe(true);
    expect((second as Error).message).toMatch(/another agent \(pid \d+ on .*\) uses the data folder/);
    expect((await first).outcomes).toEqual([[51, 'completed']]);
  });

  it('retries uploads the server fails (503) and loses none; an upload refused for good fails the task', async () => {
    const task = server.addTask({ ID: 61, AODFiles: fixture.aods, Configuration: { epochs: 2 } });
    server.uploadFailure = { remaining: 3, status: 503 };
    const { outcomes, log } = await runAgent(1);
    expect(outcomes).toEqual([[61, 'completed']]);
    expect(
      log.some((l) => /upload of grid_download_out\.log failed .*503.*; retry 1 in \d+ ms/.test(l)),
    ).toBe(true);
    const names = task.results.map((r) => r.Name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.filter((n) => n.endsWith('.onnx'))).toHaveLength(6);

    const refused = server.addTask({ ID: 62, AODFiles: fixture.aods, Configuration: { epochs: 2 } });
    server.uploadFailure = { remaining: 1, status: 422 };
    const second = await runAgent(1);
    expect(second.outcomes).toEqual([[62, 'failed']]);
    expect(refused.posted).toEqual([0]);
    expect(second.log.some((l) => /task 62: failed in download: .*422/.test(l))).toBe(true);
  });

  it('a task whose run had failed when the agent stopped is reported Failed at the next start, not run again', async () => {
    const task = server.addTask({
      ID: 71,
      AODFiles: fixture.aods,
      Configuration: { standin: { fail: 'process' } },
    });
    server.statusFailures = 1_000_000;
    const env = agentEnv(fixture.dir, server.url, storage.url, MACHINE);
    const log: string[] = [];
    const agent = new AliceAgent({
      config: loadAgentConfig({ env, cwd: fixture.dir }),
      log: (line) => {
        log.push(line);
        if (line.includes('posting Failed')) agent.stop();
      },
    });
    await agent.run();
    const statePath = join(fixture.dir, 'agent', 'data', 'agent-task.json');
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as { failed?: boolean; runId?: string };
    expect(state.failed).toBe(true);
    // As if the agent had stopped before it recorded the failure.
    delete state.failed;
    writeFileSync(statePath, JSON.stringify(state));
    server.statusFailures = 0;
    const { outcomes, log: second } = await runAgent(1, env);
    expect(outcomes).toEqual([[71, 'failed']]);
    expect(second.some((l) => l.includes('task 71: its run had failed before the agent stopped'))).toBe(true);
    expect(task.posted).toEqual([0]);
    expect(task.results.filter((r) => r.Name === 'pdi_process_err.log')).toHaveLength(1);
  });
});
