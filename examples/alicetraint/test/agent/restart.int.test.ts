import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AgentProcess } from '../support/agent-process.js';
import { agentEnv } from '../support/fixtures.js';
import { useGoFixture } from '../support/go-fixture.js';

const MACHINE = { id: 6, secret: 'restart-secret-abcdef' };

const f = useGoFixture(MACHINE);

function start(): AgentProcess {
  return f.programs.start(agentEnv(f.aods.dir, f.server.url, f.storage.url, MACHINE));
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
    const task = f.server.addTask({
      ID: 70,
      AODFiles: f.aods.aods,
      Configuration: { epochs: 3, standin: { sleepMs: { train: 10_000 } } },
    });
    const first = start();
    await first.waitFor(/train: sleeping 10000 ms/);
    const fetched = f.storage.bytesSent;
    expect(fetched).toBe(120_000);
    const taskDir = join(f.aods.dir, 'agent', 'data', 'tasks', '70');
    const orphans = processesIn(taskDir, 'pdi_scripts.mjs');
    expect(orphans).toHaveLength(1);
    first.kill('SIGKILL');
    await first.exited;
    expect(task.posted).toEqual([]);
    // The stage's process outlives the agent (its own process group) until the next start stops it.
    expect(processesIn(taskDir, 'pdi_scripts.mjs')).toEqual(orphans);
    expect(existsSync(join(f.aods.dir, 'agent', 'data', 'agent-task.json'))).toBe(true);

    const second = start();
    await second.waitFor(/task 70: completed/);
    expect(second.output).toMatch(/task 70: resuming run/);
    expect(
      orphans.filter(
        (pid) => existsSync(`/proc/${pid}/cmdline`) && processesIn(taskDir, 'pdi_scripts.mjs').includes(pid),
      ),
    ).toEqual([]);
    expect(task.posted).toEqual([3, 4]);
    expect(f.storage.bytesSent).toBe(fetched);
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
    const task = f.server.addTask({
      ID: 71,
      AODFiles: f.aods.aods,
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
