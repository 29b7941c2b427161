import { readFileSync } from 'node:fs';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import type { CacheKeyParts, RunEvent, RunEventInit } from '../contracts/events.js';
import type { RunRecord, RunState } from '../contracts/store.js';
import {
  applyRunEvent,
  changesStepState,
  initialRunState,
  isInterrupted,
  ownerBlocksClaim,
  reduceRunState,
} from './run-state.js';

const keyParts: CacheKeyParts = {
  command: 'exec',
  commandVersion: '1',
  params: '{}',
  inputs: {},
  runner: '-',
};
const record = (plan: unknown): RunRecord => ({
  id: 'r',
  pipeline: 'p',
  plan,
  params: {},
  cwd: '/w',
  createdAt: 100,
});

let seq = 0;
const ev = (init: RunEventInit, time = 1000 + seq): RunEvent => ({ ...init, runId: 'r', seq: ++seq, time });
const fold = (state: RunState, inits: RunEventInit[]): RunState =>
  inits.reduce((s, init) => reduceRunState(s, ev(init)), state);
const started = (stepId: string, attempt: number): RunEventInit => ({
  type: 'started',
  stepId,
  attempt,
  resources: { cpus: 1, memoryMb: 0, gpus: [] },
  key: `k${attempt}`,
  keyParts,
});

describe('initialRunState', () => {
  it('makes every planned step pending and the run running', () => {
    expect(initialRunState(record({ steps: [{ id: 'a' }, { id: 'b' }] }))).toEqual({
      id: 'r',
      pipeline: 'p',
      status: 'running',
      createdAt: 100,
      updatedAt: 100,
      lastSeq: 0,
      steps: {
        a: { stepId: 'a', status: 'pending', attempt: 0 },
        b: { stepId: 'b', status: 'pending', attempt: 0 },
      },
    });
  });

  it.each([undefined, null, 3, 'plan', [], { steps: {} }, { steps: [1, null, {}, { id: 7 }, { id: '' }] }])(
    'tolerates a plan that is not a Plan: %j',
    (plan) => {
      expect(initialRunState(record(plan)).steps).toEqual({});
    },
  );
});

describe('reduceRunState', () => {
  it('does not modify its input', () => {
    const before = initialRunState(record({ steps: [{ id: 'a' }] }));
    const copy = structuredClone(before);
    const after = reduceRunState(before, ev({ type: 'queued', stepId: 'a' }));
    expect(before).toEqual(copy);
    expect(after.steps.a?.status).toBe('queued');
    expect(after).not.toBe(before);
  });

  it('updates lastSeq and updatedAt for every event, also those that change no step', () => {
    let state = initialRunState(record(null));
    for (const init of [
      { type: 'progress', stepId: 'a', attempt: 1, current: 1 },
      { type: 'log', stepId: 'a', attempt: 1, stream: 'stdout', text: 'x' },
      { type: 'metric', stepId: 'a', attempt: 1, name: 'm', value: 1 },
      {
        type: 'artifact',
        stepId: 'a',
        attempt: 1,
        artifact: { name: 'n', path: '/n', sha256: 'x', size: 1 },
      },
    ] satisfies RunEventInit[]) {
      const event = ev(init, 5000 + seq);
      state = reduceRunState(state, event);
      expect(state.lastSeq).toBe(event.seq);
      expect(state.updatedAt).toBe(event.time);
    }
    // Only step events create steps.
    expect(state.steps).toEqual({});
  });

  it('walks a step through retry to success', () => {
    let state = initialRunState(record({ steps: [{ id: 'a' }] }));
    state = fold(state, [{ type: 'queued', stepId: 'a' }]);
    expect(state.steps.a?.status).toBe('queued');
    const s1 = ev(started('a', 1));
    state = reduceRunState(state, s1);
    expect(state.steps.a).toEqual({
      stepId: 'a',
      status: 'running',
      attempt: 1,
      key: 'k1',
      keyParts,
      startedAt: s1.time,
    });
    const err = { code: 'X', message: 'boom', retryable: true };
    state = fold(state, [{ type: 'retrying', stepId: 'a', attempt: 1, delayMs: 5, error: err }]);
    expect(state.steps.a).toMatchObject({ status: 'running', attempt: 1, error: err });
    const s2 = ev(started('a', 2));
    state = reduceRunState(state, s2);
    expect(state.steps.a).toMatchObject({
      status: 'running',
      attempt: 2,
      key: 'k2',
      startedAt: s2.time,
      error: err,
    });
    const done = ev({
      type: 'succeeded',
      stepId: 'a',
      attempt: 2,
      outputs: { o: 1 },
      artifacts: [],
      durationMs: 3,
    });
    state = reduceRunState(state, done);
    expect(state.steps.a).toEqual({
      stepId: 'a',
      status: 'succeeded',
      attempt: 2,
      key: 'k2',
      keyParts,
      startedAt: s2.time,
      endedAt: done.time,
      outputs: { o: 1 },
      artifacts: [],
    });
  });

  it('records cached, failed and cancelled steps', () => {
    const err = { code: 'E', message: 'no', retryable: false };
    const state = fold(initialRunState(record(null)), [
      {
        type: 'cached',
        stepId: 'c',
        key: 'kc',
        keyParts,
        outputs: { o: 2 },
        artifacts: [],
        fromRunId: 'old',
      },
      started('f', 1),
      { type: 'failed', stepId: 'f', attempt: 1, error: err, durationMs: 1 },
      { type: 'queued', stepId: 'x' },
      { type: 'cancelled', stepId: 'x', reason: 'stop' },
    ]);
    expect(state.steps.c).toMatchObject({
      status: 'cached',
      key: 'kc',
      outputs: { o: 2 },
      fromRunId: 'old',
      attempt: 0,
    });
    expect(state.steps.c?.endedAt).toBeTypeOf('number');
    expect(state.steps.f).toMatchObject({ status: 'failed', error: err, attempt: 1 });
    expect(state.steps.f?.endedAt).toBeTypeOf('number');
    expect(state.steps.x).toMatchObject({ status: 'cancelled' });
    expect(state.steps.x?.endedAt).toBeTypeOf('number');
  });

  it('a step that starts again (resume) drops the results of the earlier execution', () => {
    const state = fold(initialRunState(record(null)), [
      {
        type: 'cached',
        stepId: 'c',
        key: 'kc',
        keyParts,
        outputs: { o: 2 },
        artifacts: [],
        fromRunId: 'old',
      },
      started('c', 1),
    ]);
    expect(state.steps.c).not.toHaveProperty('outputs');
    expect(state.steps.c).not.toHaveProperty('fromRunId');
    expect(state.steps.c).not.toHaveProperty('endedAt');
  });

  it('records run outcomes; a resumed run-started clears the previous outcome', () => {
    const err = { code: 'E', message: 'no', retryable: false };
    let state = fold(initialRunState(record(null)), [
      { type: 'run-started', pipeline: 'p', resumed: false },
      { type: 'run-failed', error: err, durationMs: 1 },
    ]);
    expect(state).toMatchObject({ status: 'failed', error: err });
    state = fold(state, [{ type: 'run-started', pipeline: 'p', resumed: true }]);
    expect(state.status).toBe('running');
    expect(state).not.toHaveProperty('error');
    state = fold(state, [{ type: 'run-cancelled', reason: 'user', durationMs: 1 }]);
    expect(state).toMatchObject({ status: 'cancelled', cancelReason: 'user' });
    // A fresh start keeps a cancellation requested before it; a resume does not.
    expect(fold(state, [{ type: 'run-started', pipeline: 'p', resumed: false }]).cancelReason).toBe('user');
    state = fold(state, [{ type: 'run-started', pipeline: 'p', resumed: true }]);
    expect(state).not.toHaveProperty('cancelReason');
    state = fold(state, [{ type: 'run-succeeded', durationMs: 1 }]);
    expect(state.status).toBe('succeeded');
  });

  it('agrees with applyRunEvent, which stores use in place', () => {
    const inits: RunEventInit[] = [
      { type: 'run-started', pipeline: 'p', resumed: false },
      { type: 'queued', stepId: 'a' },
      started('a', 1),
      { type: 'succeeded', stepId: 'a', attempt: 1, outputs: {}, artifacts: [], durationMs: 1 },
    ];
    const events = inits.map((init) => ev(init));
    const pure = events.reduce(reduceRunState, initialRunState(record({ steps: [{ id: 'a' }] })));
    const inPlace = initialRunState(record({ steps: [{ id: 'a' }] }));
    for (const event of events) applyRunEvent(inPlace, event);
    expect(inPlace).toEqual(pure);
    expect(events.filter(changesStepState).map((e) => e.type)).toEqual(['queued', 'started', 'succeeded']);
  });
});

describe('ownerBlocksClaim', () => {
  it('lets the owner itself, dead owners and other hosts through', () => {
    const host = 'h';
    expect(ownerBlocksClaim(undefined, { pid: 1, host }, host)).toBe(false);
    expect(ownerBlocksClaim({ pid: process.pid, host }, { pid: process.pid, host }, host)).toBe(false);
    expect(ownerBlocksClaim({ pid: process.pid, host }, { pid: 12345, host }, host)).toBe(true);
    expect(ownerBlocksClaim({ pid: process.pid, host: 'elsewhere' }, { pid: 12345, host }, host)).toBe(false);
    expect(ownerBlocksClaim({ pid: 2 ** 22 + 17, host }, { pid: 12345, host }, host)).toBe(false);
  });
});

describe('the process of a running step', () => {
  const work = { runner: 'local', pid: 4242, pgid: 4242, host: 'h', bootId: 'b', startTime: 7 };

  it('is recorded by its `process` event and forgotten when the attempt ends', () => {
    const base = initialRunState(record({ steps: [{ id: 'a' }] }));
    const running = fold(base, [
      started('a', 1),
      { type: 'process', stepId: 'a', attempt: 1, process: work },
    ]);
    expect(running.steps.a?.process).toEqual(work);
    expect(changesStepState(ev({ type: 'process', stepId: 'a', attempt: 1, process: work }))).toBe(true);
    const error = { code: 'E', message: 'm', retryable: true };
    for (const end of [
      { type: 'retrying', stepId: 'a', attempt: 1, delayMs: 1, error },
      { type: 'failed', stepId: 'a', attempt: 1, error, durationMs: 1 },
      { type: 'cancelled', stepId: 'a', reason: 'r' },
      { type: 'succeeded', stepId: 'a', attempt: 1, outputs: {}, artifacts: [], durationMs: 1 },
      started('a', 2),
    ] satisfies RunEventInit[]) {
      expect(fold(running, [end]).steps.a?.process).toBeUndefined();
    }
  });
});

describe('isInterrupted', () => {
  it('is true only for a running run whose recorded owner is gone', () => {
    const host = os.hostname();
    const me = { pid: process.pid, host };
    expect(isInterrupted('running', undefined)).toBe(false);
    expect(isInterrupted('running', me)).toBe(false);
    expect(isInterrupted('failed', { pid: 2 ** 22 + 17, host })).toBe(false);
    expect(isInterrupted('running', { pid: 2 ** 22 + 17, host })).toBe(true);
    // Another host cannot be checked.
    expect(isInterrupted('running', { pid: 2 ** 22 + 17, host: `${host}-elsewhere` })).toBe(false);
  });

  it.runIf(process.platform === 'linux')('tells a reused pid and a reboot from a live owner', () => {
    const host = os.hostname();
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
    const startTime = Number(
      readFileSync(`/proc/${process.pid}/stat`, 'latin1').split(') ')[1]!.split(' ')[19],
    );
    expect(isInterrupted('running', { pid: process.pid, host, bootId, startTime })).toBe(false);
    expect(isInterrupted('running', { pid: process.pid, host, bootId, startTime: startTime + 1 })).toBe(true);
    expect(isInterrupted('running', { pid: process.pid, host, bootId: 'another-boot', startTime })).toBe(
      true,
    );
    // The same rule decides claims.
    const claimant = { pid: 12345, host };
    expect(ownerBlocksClaim({ pid: process.pid, host, bootId, startTime }, claimant, host)).toBe(true);
    expect(
      ownerBlocksClaim({ pid: process.pid, host, bootId, startTime: startTime + 1 }, claimant, host),
    ).toBe(false);
  });
});
