import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../contracts/events.js';
import type { Runtime } from '../contracts/runtime.js';
import type { RunRecord, StepStatus } from '../contracts/store.js';
import { isCoreError } from '../errors/core-error.js';
import { createRuntime } from '../runtime/create-runtime.js';
import { createProbe, testCommandsPlugin } from '../runtime/test-fixtures/test-commands.js';
import { MemoryStore } from '../store/memory-store.js';
import {
  initialRunState,
  reduceRunState,
  runsToCollect,
  stepTransitionError,
  validateAppendBatch,
} from './index.js';

const runtimes: Runtime[] = [];
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((runtime) => runtime.close()));
});

async function events(store: MemoryStore, runId: string): Promise<RunEvent[]> {
  const all: RunEvent[] = [];
  for await (const event of store.readEvents(runId)) all.push(event);
  return all;
}

/** Every step event of a log checked against the status its step had just before. */
async function transitionErrors(store: MemoryStore, runId: string): Promise<string[]> {
  const record = (await store.getRun(runId)) as RunRecord;
  let state = initialRunState(record);
  const errors: string[] = [];
  for (const event of await events(store, runId)) {
    if ('stepId' in event) {
      const from: StepStatus = state.steps[event.stepId]?.status ?? 'pending';
      const error = stepTransitionError(from, event);
      if (error !== undefined) errors.push(error);
    }
    state = reduceRunState(state, event);
  }
  return errors;
}

describe('store-kit', () => {
  it('allows every step transition the engine really makes: retries, failures, cache, cancel and resume', async () => {
    const store = new MemoryStore();
    const runtime = await createRuntime({
      store,
      cwd: mkdtempSync(path.join(os.tmpdir(), 'beamline-kit-')),
      resources: { cpus: 4, memoryMb: 1024, gpus: [] },
      plugins: [testCommandsPlugin(createProbe())],
    });
    runtimes.push(runtime);
    const steps = {
      flaky: {
        uses: 'test.work',
        with: { failTimes: 1, value: 1 },
        retry: { attempts: 2, initialDelayMs: 1 },
      },
      broken: { uses: 'test.work', with: { failTimes: 5, retryable: false }, needs: [] },
      after: { uses: 'test.work', needs: ['broken'] },
      long: { uses: 'test.work', with: { ms: -1 }, needs: ['flaky'] },
    };
    const first = await runtime.run({ name: 'kit', steps });
    first.events.on('started', (e) => e.stepId === 'long' && first.cancel('pause'));
    expect((await first.done).status).toBe('cancelled');
    const resumed = await runtime.resume(first.id);
    setTimeout(() => resumed.cancel('again'), 50);
    await resumed.done;
    const cached = await runtime.run({ name: 'kit', steps: { flaky: steps.flaky } });
    expect((await cached.done).steps.flaky?.status).toBe('cached');

    const log = await events(store, first.id);
    const types = new Set(log.map((e) => e.type));
    for (const type of ['retrying', 'failed', 'cancelled', 'succeeded', 'queued', 'started'])
      expect(types).toContain(type);
    expect(await transitionErrors(store, first.id)).toEqual([]);
    expect(await transitionErrors(store, cached.id)).toEqual([]);
  });

  it('names a contradiction: a second end of a step, or a start before it was queued', () => {
    const base = { runId: 'r', seq: 9, time: 0, stepId: 'a' } as const;
    const failed: RunEvent = {
      ...base,
      type: 'failed',
      attempt: 1,
      error: { code: 'X', message: 'x', retryable: false },
      durationMs: 1,
    };
    expect(stepTransitionError('succeeded', failed)).toBe(
      `step "a" is succeeded; a 'failed' event (seq 9) cannot follow`,
    );
    const started = { ...base, type: 'started', attempt: 1 } as unknown as RunEvent;
    expect(stepTransitionError('pending', started)).toContain("'started'");
    expect(stepTransitionError('running', failed)).toBeUndefined();
    const log: RunEvent = { ...base, type: 'log', attempt: 1, stream: 'stdout', text: 'x' };
    expect(stepTransitionError('succeeded', log)).toBeUndefined();
  });

  it('refuses a batch of another run or with a gap in seq, naming the event', () => {
    const event = (seq: number, runId = 'r'): RunEvent => ({
      type: 'queued',
      runId,
      seq,
      time: 0,
      stepId: 'a',
    });
    expect(() => validateAppendBatch('r', 2, [event(3), event(4)])).not.toThrow();
    const gap = (() => {
      try {
        validateAppendBatch('r', 2, [event(3), event(5)]);
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(isCoreError(gap, 'CORE_STORE_FAILED')).toBe(true);
    expect((gap as Error).message).toContain('expected event seq 4, got 5');
    expect(() => validateAppendBatch('r', 0, [event(1, 'other')])).toThrow(/belongs to run other, not r/);
  });

  it('lets a store apply the one retention rule: finished, old and beyond the newest kept', () => {
    const day = 24 * 60 * 60 * 1000;
    const now = 100 * day;
    const runs = [
      { id: 'new', status: 'succeeded' as const, createdAt: 5, updatedAt: now },
      { id: 'running', status: 'running' as const, createdAt: 4, updatedAt: 0 },
      { id: 'kept', status: 'failed' as const, createdAt: 3, updatedAt: 0 },
      { id: 'old', status: 'cancelled' as const, createdAt: 2, updatedAt: 0 },
    ];
    expect(runsToCollect(runs, { keepDays: 1, keepRuns: 3 }, now)).toEqual(['old']);
    expect(runsToCollect(runs, {}, now)).toEqual([]);
    expect(() => runsToCollect(runs, { keepRuns: -1 }, now)).toThrow(/keepRuns/);
  });
});
