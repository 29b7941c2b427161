import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../contracts/events.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { createRuntime } from './create-runtime.js';

const fixture = fileURLToPath(new URL('../engine/test-fixtures/run-pipeline-file.ts', import.meta.url));
const STEPS = 8;

function pipelineYaml(): string {
  const lines = ['name: crash-test', 'steps:'];
  for (let i = 0; i < STEPS; i++) {
    lines.push(`  s${i}:`, '    uses: exec', '    with:');
    lines.push(`      command: "echo s${i} >> executions.log; echo working on s${i}; sleep 0.4"`);
  }
  return lines.join('\n');
}

async function collect(store: SqliteStore, runId: string): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  for await (const event of store.readEvents(runId)) events.push(event);
  return events;
}

describe('resume after kill -9', () => {
  it('continues the run: no completed step runs again and no event of a completed step is missing', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-crash-'));
    writeFileSync(path.join(cwd, 'pipeline.yaml'), pipelineYaml());
    const child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', fixture, cwd, 'pipeline.yaml'],
      {
        // `--import tsx` resolves from the working directory of the process: the package's.
        cwd: path.dirname(fixture),
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const runId = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
      child.once('exit', (code) => reject(new Error(`the engine exited early with ${code}`)));
    });

    const watcher = SqliteStore.open({ cwd });
    // Kill it while a step is running, after at least three have completed.
    for (;;) {
      const state = await watcher.runState(runId);
      const done = Object.values(state?.steps ?? {}).filter((s) => s.status === 'succeeded').length;
      if (done >= 3 && Object.values(state?.steps ?? {}).some((s) => s.status === 'running')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await new Promise((r) => setTimeout(r, 500)); // let the orphaned `sleep` of the killed step finish

    const before = await watcher.runState(runId);
    const completedBefore = Object.values(before!.steps)
      .filter((s) => s.status === 'succeeded')
      .map((s) => s.stepId);
    const eventsBefore = await collect(watcher, runId);
    await watcher.close();
    for (const stepId of completedBefore) {
      const kinds = eventsBefore.filter((e) => 'stepId' in e && e.stepId === stepId).map((e) => e.type);
      expect(kinds).toEqual(expect.arrayContaining(['queued', 'started', 'log', 'succeeded']));
    }

    const runtime = await createRuntime({ cwd });
    const resumed = await runtime.resume(runId);
    const result = await resumed.done;
    const eventsAfter = await collect(runtime.store as SqliteStore, runId);
    await runtime.close();

    expect(result.status).toBe('succeeded');
    const executions = readFileSync(path.join(cwd, 'executions.log'), 'utf8').trim().split('\n');
    for (const stepId of completedBefore) expect(executions.filter((s) => s === stepId)).toHaveLength(1);
    for (let i = 0; i < STEPS; i++) expect(result.steps[`s${i}`]?.status).toBe('succeeded');
    // The log continues where it stopped: the old events are still there, in order, without gaps.
    expect(eventsAfter.slice(0, eventsBefore.length)).toEqual(eventsBefore);
    expect(eventsAfter.map((e) => e.seq)).toEqual(eventsAfter.map((_, i) => i + 1));
  }, 60_000);
});
