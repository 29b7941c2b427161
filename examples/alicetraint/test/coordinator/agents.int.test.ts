import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AliceAgent, type TaskOutcome } from '../../src/agent/agent.js';
import { CCDB_MODEL_NAMES } from '../../src/client/wire.js';
import { loadAgentConfig } from '../../src/config/agent-config.js';
import { Coordinator, type TaskView } from '../../src/coordinator/coordinator.js';
import { agentEnv, makeAods } from '../support/fixtures.js';
import { AgentPrograms } from '../support/go-fixture.js';
import { CountingStorage } from '../support/storage.js';

const CHEAP = { memoryKiB: 1024, parallelism: 1, iterations: 1 };
const MOCK_UPLOADS = fileURLToPath(new URL('../../mock_uploads', import.meta.url));

let fixture: ReturnType<typeof makeAods>;
let coordinator: Coordinator;
let storage: CountingStorage;
const children = new AgentPrograms();
beforeEach(async () => {
  fixture = makeAods(2);
  storage = new CountingStorage(fixture.storage);
  await storage.start();
});
afterEach(async () => {
  await children.killAll();
  await coordinator.stop().catch(() => undefined);
  await storage.close();
  rmSync(fixture.dir, { recursive: true, force: true });
});

async function tasks(): Promise<TaskView[]> {
  return (await fetch(`${coordinator.url}/api/tasks`)).json() as Promise<TaskView[]>;
}

async function waitFor(check: () => boolean, timeoutMs = 90_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('agents against the coordinator over HTTP', () => {
  it('8 agents at once: every task is done exactly once, with its models and plots', async () => {
    coordinator = await Coordinator.open({ dir: join(fixture.dir, 'coordinator'), argon2: CHEAP });
    await coordinator.start();
    for (let i = 0; i < 16; i++) await coordinator.addTask({ aodFiles: fixture.aods, name: `t${i}` });
    const ended: [number, TaskOutcome][] = [];
    const agents = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const m = await coordinator.registerMachine(`agent-${i}`);
        const env = agentEnv(
          fixture.dir,
          coordinator.url,
          storage.url,
          { id: m.id, secret: m.secret },
          `agent-${i}`,
        );
        return new AliceAgent({
          config: loadAgentConfig({ env, cwd: fixture.dir, mock: true }),
          mock: { uploadsDir: MOCK_UPLOADS, sleepMs: 50 },
          heartbeatMs: 1000,
          onTaskEnd: (id, outcome) => ended.push([id, outcome]),
        });
      }),
    );
    const running = agents.map((a) => a.run());
    await waitFor(() => ended.length >= 16);
    for (const a of agents) a.stop();
    await Promise.all(running);
    expect(ended.map(([id]) => id).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 16 }, (_, i) => i + 1),
    );
    expect(ended.every(([, outcome]) => outcome === 'completed')).toBe(true);
    for (const task of await tasks()) {
      expect(task).toMatchObject({ Status: 4, Claims: 1 });
      const names = task.Results.map((r) => r.Name);
      expect(names.filter((n) => n.endsWith('.onnx')).sort()).toEqual([...CCDB_MODEL_NAMES].sort());
      expect(names.filter((n) => n.endsWith('.png')).sort()).toEqual(['efficiency.png', 'purity.png']);
      expect(names.filter((n) => n.endsWith('.log'))).toHaveLength(4);
    }
  });

  it('an agent killed for good loses its task after the lease; another agent finishes it', async () => {
    coordinator = await Coordinator.open({
      dir: join(fixture.dir, 'coordinator'),
      argon2: CHEAP,
      leaseMs: 2000,
      sweepMs: 250,
    });
    await coordinator.start();
    const task = await coordinator.addTask({
      aodFiles: fixture.aods,
      configuration: { epochs: 2, standin: { sleepMs: { train: 3000 } } },
    });
    const a = await coordinator.registerMachine('a');
    const b = await coordinator.registerMachine('b');
    const first = children.start(
      agentEnv(fixture.dir, coordinator.url, storage.url, { id: a.id, secret: a.secret }, 'a'),
    );
    await first.waitFor(/train: sleeping 3000 ms/);
    first.kill('SIGKILL');
    await first.exited;
    expect((await tasks())[0]).toMatchObject({ Status: 2, TrainingMachineID: a.id });

    const outcomes: TaskOutcome[] = [];
    const env = agentEnv(fixture.dir, coordinator.url, storage.url, { id: b.id, secret: b.secret }, 'b');
    const agent = new AliceAgent({
      config: loadAgentConfig({ env, cwd: fixture.dir }),
      heartbeatMs: 500,
      onTaskEnd: (_, outcome) => {
        outcomes.push(outcome);
        agent.stop();
      },
    });
    await agent.run();
    expect(outcomes).toEqual(['completed']);
    const [done] = await tasks();
    expect(done).toMatchObject({ ID: task.id, Status: 4, TrainingMachineID: b.id, Claims: 2 });
    // The second agent found the AODs in the grid cache the first one filled.
    expect(storage.bytesSent).toBe(120_000);
  });

  it("a task cancelled at the coordinator stops the agent's running stage", async () => {
    coordinator = await Coordinator.open({ dir: join(fixture.dir, 'coordinator'), argon2: CHEAP });
    await coordinator.start();
    await coordinator.addTask({
      aodFiles: fixture.aods,
      configuration: { standin: { sleepMs: { train: 60_000 } } },
    });
    const m = await coordinator.registerMachine('a');
    const outcomes: TaskOutcome[] = [];
    const log: string[] = [];
    const env = agentEnv(fixture.dir, coordinator.url, storage.url, { id: m.id, secret: m.secret });
    const agent = new AliceAgent({
      config: loadAgentConfig({ env, cwd: fixture.dir }),
      heartbeatMs: 300,
      log: (line) => log.push(line),
      onTaskEnd: (_, outcome) => {
        outcomes.push(outcome);
        agent.stop();
      },
    });
    const running = agent.run();
    await waitFor(() => log.some((l) => l.includes('train: sleeping 60000 ms')));
    const started = Date.now();
    expect((await fetch(`${coordinator.url}/api/tasks/1/cancel`, { method: 'POST' })).status).toBe(200);
    await running;
    expect(outcomes).toEqual(['cancelled']);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect((await tasks())[0]).toMatchObject({ Status: 0, Reason: 'cancelled' });
  });
});
