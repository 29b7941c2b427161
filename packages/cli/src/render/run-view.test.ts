import { initialRunState, reduceRunState, type RunRecord } from '@beamline/core';
import { describe, expect, it } from 'vitest';
import { sampleRun, stamp } from '../testing/synthetic-events.js';
import {
  applyRunEvent,
  completeView,
  countSteps,
  createRunView,
  createRunViewOf,
  isRetrying,
  stepViews,
} from './run-view.js';

const KEY_PARTS = { command: 'exec', commandVersion: '1', params: '{}', inputs: {}, runner: 'l' };

const record: RunRecord = {
  id: 'run-1',
  pipeline: 'demo',
  plan: { steps: [{ id: 'prepare' }, { id: 'train' }, { id: 'evaluate' }, { id: 'report' }] },
  params: {},
  cwd: '/work',
  createdAt: 1_700_000_000_000,
};

describe('the run view', () => {
  it("holds exactly core's run state, as `beamline show` reads it from the store", () => {
    const events = [
      ...sampleRun(),
      ...stamp(
        'run-1',
        [
          {
            type: 'started',
            stepId: 'report',
            attempt: 1,
            resources: { cpus: 1, memoryMb: 0, gpus: [] },
            key: 'k',
            keyParts: KEY_PARTS,
          },
          {
            type: 'retrying',
            stepId: 'report',
            attempt: 1,
            delayMs: 1000,
            error: { code: 'CORE_PROCESS_FAILED', message: 'exited with code 1', retryable: true },
          },
        ],
        1_700_000_100_000,
      ),
    ];
    const view = createRunView(record);
    for (const event of events) applyRunEvent(view, event);
    const core = events.reduce(reduceRunState, initialRunState(record));
    expect(view.state).toEqual(core);
    // Core counts a step waiting for its next attempt as running; the view adds only the wait.
    const report = stepViews(view).find((step) => step.id === 'report');
    expect(report?.state.status).toBe('running');
    expect(report && isRetrying(report)).toBe(true);
    expect(countSteps(view)).toEqual({ succeeded: 1, cached: 1, failed: 1, cancelled: 0, other: 1 });
  });

  it("keeps a step's last log lines without the markers core turns into events", () => {
    const view = createRunView(record);
    const [log] = stamp('run-1', [
      {
        type: 'log',
        stepId: 'train',
        attempt: 1,
        stream: 'stdout',
        text: '::metric loss=0.5\nreal line\n::progress 1/2 half\n::output model=m.onnx\n::metric broken\n',
      },
    ]);
    applyRunEvent(view, log!);
    // `::metric broken` is no metric to core's parser: it stays text, as it does in the step's log.
    expect(view.display.get('train')?.tail).toEqual([
      'real line',
      '::output model=m.onnx',
      '::metric broken',
    ]);
  });

  it('lists the planned steps in plan order before any event', () => {
    expect(stepViews(createRunView(record)).map((step) => [step.id, step.state.status])).toEqual([
      ['prepare', 'pending'],
      ['train', 'pending'],
      ['evaluate', 'pending'],
      ['report', 'pending'],
    ]);
  });

  it('keeps steps named __proto__ (runs recorded before such ids were refused) and constructor', () => {
    const view = createRunViewOf(['__proto__', 'constructor']);
    const steps = JSON.parse(
      '{"__proto__": {"stepId": "__proto__", "status": "succeeded", "attempt": 1},' +
        ' "constructor": {"stepId": "constructor", "status": "failed", "attempt": 1}}',
    ) as Parameters<typeof completeView>[1]['steps'];
    completeView(view, { runId: 'r', status: 'failed', steps, durationMs: 5 });
    expect(stepViews(view).map((step) => [step.id, step.state.status])).toEqual([
      ['__proto__', 'succeeded'],
      ['constructor', 'failed'],
    ]);
    expect(countSteps(view)).toMatchObject({ succeeded: 1, failed: 1, other: 0 });
  });
});
