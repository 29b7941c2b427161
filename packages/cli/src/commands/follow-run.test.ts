import { Readable } from 'node:stream';
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { RunEvent, RunHandle, RunResult, Store } from '@beamline/core';
import { ExitCode } from '../cli-io.js';
import { createFakeIO } from '../testing/fake-io.js';
import { sampleRun, stamp } from '../testing/synthetic-events.js';
import { CANCELLING_NOTICE, followRun } from './follow-run.js';

/** A handle the test drives by hand: `emit` events, `end` the run. */
function fakeHandle(
  runId: string,
): RunHandle & { emit(events: RunEvent[]): void; end(result: RunResult): void; reasons: string[] } {
  const subject = new Subject<RunEvent>();
  let resolveDone: (result: RunResult) => void = () => undefined;
  const done = new Promise<RunResult>((resolve) => (resolveDone = resolve));
  const reasons: string[] = [];
  return {
    id: runId,
    events$: subject.asObservable(),
    // followRun listens through events$ only.
    events: undefined as unknown as RunHandle['events'],
    done,
    reasons,
    cancel: (reason = 'cancelled') => reasons.push(reason),
    emit: (events) => events.forEach((event) => subject.next(event)),
    end: (result) => {
      subject.complete();
      resolveDone(result);
    },
  };
}

/** The store calls `followRun` makes: the plan (for pending steps) and earlier metrics (for cached steps). */
function fakeStore(metricsOfEarlierRun: RunEvent[] = []): Store {
  return {
    getRun: () =>
      Promise.resolve({
        id: 'r',
        pipeline: 'demo',
        plan: { steps: [{ id: 'prepare' }, { id: 'train' }, { id: 'evaluate' }, { id: 'report' }] },
        params: {},
        cwd: '/work',
        createdAt: 0,
      }),
    readEvents: (_runId: string, options?: { stepId?: string }) =>
      Readable.from(
        metricsOfEarlierRun.filter((event) => 'stepId' in event && event.stepId === options?.stepId),
      ),
  } as unknown as Store;
}

const failedResult: RunResult = { runId: 'run-1', status: 'failed', steps: {}, durationMs: 2500 };

describe('followRun', () => {
  it('--json: one JSON event per line on stdout and nothing else; exit 1 for a failed run', async () => {
    const io = createFakeIO({ tty: true });
    const handle = fakeHandle('run-1');
    const exit = followRun(handle, fakeStore(), io, { json: true });
    await Promise.resolve();
    const events = sampleRun('run-1');
    handle.emit(events);
    handle.end(failedResult);
    expect(await exit).toBe(ExitCode.failed);
    const lines = io.stdout.text.trimEnd().split('\n');
    expect(lines).toHaveLength(events.length);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ runId: 'run-1' });
  });

  it('plain: line per event, then the summary with metrics of cached steps from their original run', async () => {
    const io = createFakeIO({ cwd: '/work' });
    const handle = fakeHandle('run-1');
    const earlier = stamp('run-0', [
      { type: 'metric', stepId: 'prepare', attempt: 1, name: 'rows', value: 200 },
    ]);
    const exit = followRun(handle, fakeStore(earlier), io, { json: false });
    await Promise.resolve();
    handle.emit(sampleRun('run-1'));
    handle.end(failedResult);
    expect(await exit).toBe(ExitCode.failed);
    expect(io.stdout.text).toContain('train metric loss=0.1235');
    expect(io.stdout.text).toContain('Run run-1 failed in 2.5s');
    expect(io.stdout.text).toContain('4 steps: 1 succeeded, 1 cached, 1 failed, 1 not run');
    expect(io.stdout.text).toMatch(/prepare\s+rows=200/);
  });

  it('exits 0 for a succeeded run', async () => {
    const io = createFakeIO();
    const handle = fakeHandle('r');
    const exit = followRun(handle, fakeStore(), io, { json: false });
    await Promise.resolve();
    handle.emit(
      stamp('r', [
        { type: 'run-started', pipeline: 'demo', resumed: false },
        { type: 'run-succeeded', durationMs: 5 },
      ]),
    );
    handle.end({ runId: 'r', status: 'succeeded', steps: {}, durationMs: 5 });
    expect(await exit).toBe(ExitCode.ok);
  });

  it('Ctrl-C cancels the run with reason "interrupted", waits for it to end, exits 1', async () => {
    const io = createFakeIO({ tty: true });
    const handle = fakeHandle('r');
    const exit = followRun(handle, fakeStore(), io, { json: false });
    await Promise.resolve();
    handle.emit(stamp('r', [{ type: 'run-started', pipeline: 'demo', resumed: false }]));
    io.controller.abort();
    expect(handle.reasons).toEqual(['interrupted']);
    expect(io.stdout.text).toContain(CANCELLING_NOTICE);
    let settled = false;
    void exit.then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(settled).toBe(false); // still waiting for the run to stop
    handle.emit(stamp('r', [{ type: 'run-cancelled', reason: 'interrupted', durationMs: 30 }]));
    handle.end({ runId: 'r', status: 'cancelled', steps: {}, durationMs: 30 });
    expect(await exit).toBe(ExitCode.failed);
    expect(io.stdout.text).toContain('Run r cancelled');
  });
});
