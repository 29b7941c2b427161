import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeGoServer } from '../support/go-server.js';
import { AgentProcess } from '../support/agent-process.js';
import { agentEnv, makeAods } from '../support/fixtures.js';
import { CountingStorage } from '../support/storage.js';

const MACHINE = { id: 6, secret: 'restart-secret-abcdef' };

let server: FakeGoServer;
let storage: CountingStorage;
let fixture: ReturnType<typeof makeAods>;
const agents: AgentProcess[] = [];
beforeEach(async () => {
  fixture = makeAods(2);
  server = new FakeGoServer();
  server.addMachine(MACHINE.id, MACHINE.secret);
  await server.start();
  storage = new CountingStorage(fixture.storage);
  await storage.start();
});
afterEach(async () => {
  for (const agent of agents.splice(0)) {
    if (agent.child.exitCode === null && agent.child.signalCode === null) agent.kill('SIGKILL');
    await agent.exited;
  }
  await server.close();
  await storage.close();
  rmSync(fixture.dir, { recursive: true, force: true });
});

function start(): AgentProcess {
  const agent = new AgentProcess(agentEnv(fixture.dir, server.url, storage.url, MACHINE));
  agents.push(agent);
  return agent;
}

const count = (names: string[], name: string) => names.filter((n) => n === name).length;

/** Pids of live processes running `script` in folder `cwd` (read from /proc). */
function processesIn(cwd: string, script: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.[0];
      if (cmdline.includes(script) && readlinkSync(`/proc/${entry}/cwd`) === cwd && state !== 'Z') {
        pids.push(Number(entry));
      }
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

describe('the agent program, killed and restarted', () => {
  it('kill -9 mid-task, then a restart, resumes the task: finished stages and downloads are not repeated', async () => {
    const task = server.addTask({
      ID: 70,
      AODFiles: fixture.aods,
      Configuration: { epochs: 3, standin: { sleepMs: { train: 10_000 } } },
    });
    const first = start();
    await first.waitFor(/train: sleeping 10000 ms/);
    const fetched = storage.bytesSent;
    expect(fetched).toBe(120_000);
    const taskDir = join(fixture.dir, 'agent', 'data', 'tasks', '70');
    const orphans = processesIn(taskDir, 'pdi_scripts.mjs');
    expect(orphans).toHaveLength(1);
    first.kill('SIGKILL');
    await first.exited;
    expect(task.posted).toEqual([]);
    // The stage's process outlives the agent (its own process group) until the next start stops it.
    expect(processesIn(taskDir, 'pdi_scripts.mjs')).toEqual(orphans);
    expect(existsSync(join(fixture.dir, 'agent', 'data', 'agent-task.json'))).toBe(true);

    const second = start();
    await second.waitFor(/task 70: completed/);
    expect(second.output).toMatch(/task 70: resuming run/);
    expect(
      orphans.filter(
        (pid) => existsSync(`/proc/${pid}/cmdline`) && processesIn(taskDir, 'pdi_scripts.mjs').includes(pid),
      ),
    ).toEqual([]);
    expect(task.posted).toEqual([3, 4]);
    expect(storage.bytesSent).toBe(fetched);
    const names = task.results.map((r) => r.Name);
    for (const log of [
      'grid_download_out.log',
      'pidml_producer_out.log',
      'pdi_process_err.log',
      'pdi_train_out.log',
    ]) {
      expect(count(names, log), log).toBe(1);
    }
    expect(count(names, 'species.png')).toBe(1);
    expect(names.filter((n) => n.endsWith('.onnx'))).toHaveLength(6);
    second.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  });

  it('SIGTERM stops the running stage and exits 0; the next start resumes the task', async () => {
    const task = server.addTask({
      ID: 71,
      AODFiles: fixture.aods,
      Configuration: { epochs: 2, standin: { sleepMs: { benchmark: 6000 } } },
    });
    const first = start();
    await first.waitFor(/benchmark: sleeping 6000 ms/);
    const t0 = Date.now();
    first.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(first.output).toMatch(/task 71: stopped; it resumes at the next start/);
    expect(task.posted).toEqual([3]);

    // The same task, resumed: only the benchmark runs again.
    const second = start();
    await second.waitFor(/task 71: (completed|failed)/);
    expect(second.output).toMatch(/task 71: resuming run/);
    expect(task.posted).toEqual([3, 4]);
    expect(
      count(
        task.results.map((r) => r.Name),
        'pdi_train_out.log',
      ),
    ).toBe(1);
    second.kill('SIGTERM');
    await second.exited;
  });
});
