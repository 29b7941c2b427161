import { rmSync } from 'node:fs';
import { afterEach, beforeEach } from 'vitest';
import { AgentProcess } from './agent-process.js';
import { makeAods } from './fixtures.js';
import { FakeGoServer } from './go-server.js';
import { CountingStorage } from './storage.js';

/** Agent programs started by a test; {@link killAll} kills (-9) those still running and waits for them. */
export class AgentPrograms {
  private readonly started: AgentProcess[] = [];

  start(...args: ConstructorParameters<typeof AgentProcess>): AgentProcess {
    const agent = new AgentProcess(...args);
    this.started.push(agent);
    return agent;
  }

  async killAll(): Promise<void> {
    for (const agent of this.started.splice(0)) {
      if (agent.child.exitCode === null && agent.child.signalCode === null) agent.kill('SIGKILL');
      await agent.exited;
    }
  }
}

/** What each test of {@link useGoFixture} gets (replaced before every test). */
export interface GoFixture {
  server: FakeGoServer;
  storage: CountingStorage;
  aods: ReturnType<typeof makeAods>;
  programs: AgentPrograms;
}

/**
 * Before each test: two AODs on a loopback storage, and a Go-behaving server with the machine; after
 * it: the agent programs killed, `cleanUp` (if given), the servers closed, the folder removed.
 */
export function useGoFixture(
  machine: { id: number; secret: string },
  hooks: { prepare?: (dir: string) => void; cleanUp?: () => void } = {},
): GoFixture {
  const f = { programs: new AgentPrograms() } as GoFixture;
  beforeEach(async () => {
    f.aods = makeAods(2);
    hooks.prepare?.(f.aods.dir);
    f.server = new FakeGoServer();
    f.server.addMachine(machine.id, machine.secret);
    await f.server.start();
    f.storage = new CountingStorage(f.aods.storage);
    await f.storage.start();
  });
  afterEach(async () => {
    await f.programs.killAll();
    hooks.cleanUp?.();
    await f.server.close();
    await f.storage.close();
    rmSync(f.aods.dir, { recursive: true, force: true });
  });
  return f;
}
