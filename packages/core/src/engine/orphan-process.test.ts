import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunEvent, StepProcess } from '../contracts/events.js';
import { createRuntime } from '../runtime/create-runtime.js';
import { findLiveGroupMember } from '../process/process-identity.js';
import { SqliteStore } from '../store/sqlite-store.js';

const fixture = fileURLToPath(new URL('./test-fixtures/run-pipeline-file.ts', import.meta.url));

// `long` writes a line when it starts and one when it ends; `$$` is the shell's pid, so the lines say
// which copy wrote them.
const PIPELINE = `name: orphans
steps:
  first:
    uses: exec
    with: { command: "echo first" }
  long:
    uses: exec
    with:
      command: "echo started $$ >> executions.log; sleep 3; echo finished $$ >> executions.log"
`;

const engines: ChildProcess[] = [];
const groups: number[] = [];

afterEach(() => {
  for (const engine of engines.splice(0)) engine.kill('SIGKILL');
  // Never leave a test's orphan behind, whatever the assertions said.
  for (const pgid of groups.splice(0)) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** Whether a process of group `pgid` is still running (exited members that nobody reaps do not count). */
function groupAlive(pgid: number): boolean {
  return typeof findLiveGroupMember(pgid) === 'number';
}

/** Starts an engine in another process, waits until `long` runs with its process recorded, kills it -9. */
async function crashWhileLongRuns(cwd: string): Promise<{ runId: string; process: StepProcess }> {
  writeFileSync(path.join(cwd, 'pipeline.yaml'), PIPELINE);
  const engine = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', fixture, cwd, 'pipeline.yaml'],
    { cwd: path.dirname(fixture), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  engines.push(engine);
  const runId = await new Promise<string>((resolve, reject) => {
    engine.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
    engine.once('exit', (code) => reject(new Error(`the engine exited early with ${code}`)));
  });
  const watcher = SqliteStore.open({ cwd });
  try {
    for (let i = 0; ; i++) {
      const step = (await watcher.runState(runId))?.steps.long;
      if (step?.status === 'running' && step.process !== undefined) {
        groups.push(step.process.pgid ?? step.process.pid!);
        engine.kill('SIGKILL');
        await once(engine, 'exit');
        return { runId, process: step.process };
      }
      if (i > 1500) throw new Error('step "long" never ran with a recorded process');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await watcher.close();
  }
}

describe('a step process left behind by kill -9 of its engine', () => {
  it('is recorded, marks the run interrupted, and is stopped by resume before the step runs again', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-orphan-'));
    // Created before the crash, so its own start-up sweep finds nothing: this test is about resume.
    const runtime = await createRuntime({ cwd });
    try {
      const { runId, process: recorded } = await crashWhileLongRuns(cwd);
      expect(recorded).toMatchObject({ runner: 'local', host: os.hostname() });
      expect(recorded.pgid).toBe(recorded.pid);
      expect(recorded.startTime).toEqual(expect.any(Number));
      expect(recorded.bootId).toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim());
      // The engine is gone, its step is not.
      expect(groupAlive(recorded.pgid!)).toBe(true);
      const state = await runtime.store.runState(runId);
      expect(state).toMatchObject({ status: 'running', interrupted: true });
      const [summary] = await runtime.store.listRuns({ limit: 1 });
      expect(summary).toMatchObject({ id: runId, status: 'running', interrupted: true });

      const handle = await runtime.resume(runId);
      let oldGroupAliveAtRestart: boolean | undefined;
      handle.events.on('started', (event) => {
        if (event.stepId === 'long') oldGroupAliveAtRestart = groupAlive(recorded.pgid!);
      });
      const result = await handle.done;
      expect(result.status).toBe('succeeded');
      expect(oldGroupAliveAtRestart).toBe(false);

      // Exactly one copy ran after the resume: the killed copy never finished (it would have by now).
      const lines = readFileSync(path.join(cwd, 'executions.log'), 'utf8').trim().split('\n');
      expect(lines).toHaveLength(3);
      const [first, second, third] = lines.map((line) => line.split(' '));
      expect(first).toEqual(['started', String(recorded.pid)]);
      expect(second?.[0]).toBe('started');
      expect(third).toEqual(['finished', second?.[1]]);

      // The log says so, before the new attempt.
      const events: RunEvent[] = [];
      for await (const event of runtime.store.readEvents(runId, { stepId: 'long' })) events.push(event);
      const note = events.findIndex(
        (e) => e.type === 'log' && e.stream === 'system' && e.text.includes('Stopped'),
      );
      const restarted = events.findLastIndex((e) => e.type === 'started');
      expect(note).toBeGreaterThan(-1);
      expect(note).toBeLessThan(restarted);
      expect((await runtime.store.runState(runId))?.interrupted).toBeUndefined();
    } finally {
      await runtime.close();
    }
  }, 60_000);

  it('is stopped when a runtime starts on the store, without a resume', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-orphan-'));
    const { runId, process: recorded } = await crashWhileLongRuns(cwd);
    expect(groupAlive(recorded.pgid!)).toBe(true);
    const runtime = await createRuntime({ cwd });
    try {
      expect(groupAlive(recorded.pgid!)).toBe(false);
      // Still interrupted, still resumable: stopping the leftovers changes nothing in the record.
      expect(await runtime.store.runState(runId)).toMatchObject({ status: 'running', interrupted: true });
    } finally {
      await runtime.close();
    }
    const lines = readFileSync(path.join(cwd, 'executions.log'), 'utf8').trim().split('\n');
    expect(lines).toEqual([`started ${recorded.pid}`]);
  }, 60_000);
});
