import { stripVTControlCharacters } from 'node:util';
import type { RunEventInit } from '@beamline/core';
import { describe, expect, it } from 'vitest';
import { CaptureStream } from '../testing/fake-io.js';
import { sampleRun, stamp } from '../testing/synthetic-events.js';
import { VirtualTerminal } from '../testing/virtual-terminal.js';
import { createStyle, textWidth } from './format.js';
import { LiveRenderer } from './live-renderer.js';
import { fitRow, type TerminalStream } from './live-region.js';
import { createRunViewOf } from './run-view.js';

const KEY_PARTS = { command: 'exec', commandVersion: '1', params: '{}', inputs: {}, runner: 'l' };

function started(stepId: string, attempt = 1, gpus: string[] = []): RunEventInit {
  return {
    type: 'started',
    stepId,
    attempt,
    resources: { cpus: 1, memoryMb: 0, gpus },
    key: 'k',
    keyParts: KEY_PARTS,
  };
}

function setup(
  stepIds: string[] = [],
  out: TerminalStream = Object.assign(new CaptureStream(), { isTTY: true, columns: 120 }),
): { renderer: LiveRenderer; clock: { now: number } } {
  const clock = { now: 1_700_000_000_000 };
  const renderer = new LiveRenderer({
    out,
    style: createStyle(false),
    view: createRunViewOf(stepIds),
    now: () => clock.now,
  });
  return { renderer, clock };
}

describe('LiveRenderer', () => {
  it('shows pending steps from the plan before they start', () => {
    const { renderer } = setup(['prepare', 'train']);
    const frame = renderer.frame();
    expect(frame).toHaveLength(3);
    expect(frame[1]).toMatch(/^· prepare\s+waiting$/);
  });

  it('shows status, progress bar, attempt, elapsed time, GPU and the latest metrics of a running step', () => {
    const { renderer, clock } = setup();
    const events = stamp('r1', [
      { type: 'run-started', pipeline: 'demo', resumed: false },
      started('train', 2, ['1']),
      { type: 'progress', stepId: 'train', attempt: 2, current: 3, total: 4, message: 'epoch\t3' },
      { type: 'metric', stepId: 'train', attempt: 2, name: 'loss', value: 0.9 },
      { type: 'metric', stepId: 'train', attempt: 2, name: 'acc', value: 0.5 },
      { type: 'metric', stepId: 'train', attempt: 2, name: 'loss', value: 0.25 },
    ]);
    for (const event of events) renderer.event(event);
    clock.now = (events[1]?.time ?? 0) + 2500;
    const line = renderer.frame()[1] ?? '';
    expect(line).toContain('train');
    expect(line).toContain('███████████████░░░░░ 3/4');
    expect(line).toContain('epoch 3');
    expect(line).toContain('attempt 2');
    expect(line).toContain('2.5s');
    expect(line).toContain('gpu 1');
    expect(line).toContain('loss=0.25 acc=0.5');
  });

  it('marks finished, cached and failed steps with their symbols and durations', () => {
    const { renderer } = setup();
    for (const event of sampleRun()) renderer.event(event);
    const frame = renderer.frame();
    expect(frame[0]).toContain('demo');
    expect(frame.find((line) => line.includes('prepare'))).toMatch(/^↺ prepare\s+cached from run-0/);
    expect(frame.find((line) => line.includes('train'))).toMatch(/^✔ train\s+500ms\s+loss=0\.1235/);
    expect(frame.find((line) => line.includes('evaluate'))).toMatch(
      /^✖ evaluate\s+200ms\s+exited with code 3/,
    );
  });

  it("shows a retry as core's reducer has it (the step is running) with the wait, until the next attempt", () => {
    const { renderer } = setup(['train']);
    const events = stamp('r', [
      started('train'),
      {
        type: 'retrying',
        stepId: 'train',
        attempt: 1,
        delayMs: 5000,
        error: { code: 'CORE_PROCESS_FAILED', message: 'exited with code 1\nmore', retryable: true },
      },
      started('train', 2),
    ]);
    renderer.event(events[0]!);
    renderer.event(events[1]!);
    expect(renderer.view.state.steps.train?.status).toBe('running');
    expect(renderer.frame()[1]).toMatch(/^↻ train\s+retrying in 5\.0s\s+attempt 1: exited with code 1$/);
    renderer.event(events[2]!);
    expect(renderer.frame()[1]).toMatch(/^⠋|^\S train\s+attempt 2/);
    expect(renderer.frame()[1]).not.toContain('retrying');
  });

  it('keeps the frame within the terminal height, active steps first', () => {
    const out = Object.assign(new CaptureStream(), { isTTY: true, columns: 80, rows: 8 });
    const { renderer } = setup(
      Array.from({ length: 20 }, (_, i) => `s${i}`),
      out,
    );
    renderer.event(stamp('r', [started('s15')])[0]!);
    const frame = renderer.frame();
    expect(frame.length).toBeLessThanOrEqual(6);
    expect(frame.some((line) => line.includes('s15'))).toBe(true);
    expect(frame.at(-1)).toContain('more steps');
  });

  it('redraws in place on a terminal: the screen shows the last frame once, nothing of earlier ones', async () => {
    const terminal = new VirtualTerminal(60, 20);
    const { renderer, clock } = setup(['prepare', 'train'], terminal);
    const events = stamp('r', [
      { type: 'run-started', pipeline: 'demo', resumed: false },
      started('prepare'),
      { type: 'succeeded', stepId: 'prepare', attempt: 1, outputs: {}, artifacts: [], durationMs: 100 },
      started('train'),
      { type: 'progress', stepId: 'train', attempt: 1, current: 1, total: 2 },
    ]);
    for (const event of events) {
      renderer.event(event);
      clock.now = event.time;
      renderer.tick();
    }
    await terminal.settled();
    expect(terminal.lines()).toEqual(renderer.frame().map((line) => line.trimEnd()));
  });

  it('never wraps a row, also with wide characters (CJK, emoji) and tabs in step ids and messages', async () => {
    const terminal = new VirtualTerminal(30, 20);
    const ids = [
      '训练-数据集-一号-很长的名字',
      'évaluer-🚀-模型-二号-很长',
      'plain-but-quite-long-step-name',
    ];
    const { renderer, clock } = setup(ids, terminal);
    const events = stamp('r', [
      { type: 'run-started', pipeline: '流水线-🚀-pipeline', resumed: false },
      ...ids.map((id) => started(id, 1, ['0'])),
      ...ids.map((id): RunEventInit => ({
        type: 'progress',
        stepId: id,
        attempt: 1,
        current: 1,
        total: 3,
        message: '第一轮\t🚀🚀🚀 épocas',
      })),
    ]);
    for (const event of events) {
      renderer.event(event);
      clock.now = event.time;
      renderer.tick();
    }
    for (const line of renderer.frame().slice(0, 1)) expect(textWidth(line)).toBeGreaterThan(29);
    await terminal.settled();
    const screen = terminal.lines();
    // One row per step and the header: a wrapped row would add rows, a miscounted redraw leave old ones.
    expect(screen).toHaveLength(ids.length + 1);
    for (const row of screen) expect(textWidth(row)).toBeLessThanOrEqual(29);
    for (const [index, id] of ids.entries()) expect(screen[index + 1]).toContain(id.slice(0, 4));
  });

  it('writes notices above the live region and the summary after the final frame', async () => {
    const terminal = new VirtualTerminal(60, 20);
    const { renderer } = setup(['a'], terminal);
    renderer.tick();
    renderer.notice('Cancelling…');
    renderer.finish('SUMMARY\n');
    await terminal.settled();
    expect(terminal.lines()).toEqual(['Cancelling…', 'pipeline', '· a  waiting', '', 'SUMMARY']);
  });

  it('writes nothing but rows and escape sequences: no stray characters between frames', () => {
    const out = Object.assign(new CaptureStream(), { isTTY: true, columns: 40 });
    const { renderer } = setup(['a', 'b'], out);
    renderer.tick();
    renderer.event(stamp('r', [started('a')])[0]!);
    renderer.tick();
    const text = stripVTControlCharacters(out.text);
    for (const line of text.split('\n')) expect(textWidth(line)).toBeLessThanOrEqual(39);
  });
});

describe('fitRow', () => {
  it('cuts to the width in columns, also when a wide character straddles the edge', () => {
    for (const width of [5, 6, 7, 12, 29]) {
      for (const row of [
        'a训练训练训练训练训练训练训练',
        'ab训练训练训练训练训练训练',
        '🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀x',
      ]) {
        const cut = fitRow(row, width);
        expect(textWidth(cut)).toBeLessThanOrEqual(width);
        expect(cut.endsWith('…')).toBe(textWidth(row) > width);
      }
    }
    expect(fitRow('short', 10)).toBe('short');
  });
});
