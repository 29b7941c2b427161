import { describe, expect, it } from 'vitest';
import { CaptureStream } from '../testing/fake-io.js';
import { sampleRun, stamp } from '../testing/synthetic-events.js';
import { createStyle, visibleLength } from './format.js';
import { LiveRenderer } from './live-renderer.js';
import { createRunView } from './run-view.js';

function setup(
  stepIds: string[] = [],
  columns = 120,
): { out: CaptureStream; renderer: LiveRenderer; clock: { now: number } } {
  const out = new CaptureStream();
  out.isTTY = true;
  out.columns = columns;
  const clock = { now: 1_700_000_000_000 };
  const renderer = new LiveRenderer({
    out,
    style: createStyle(false),
    view: createRunView(stepIds),
    now: () => clock.now,
  });
  return { out, renderer, clock };
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
      {
        type: 'started',
        stepId: 'train',
        attempt: 2,
        resources: { cpus: 1, memoryMb: 0, gpus: ['1'] },
        key: 'k',
        keyParts: { command: 'exec', commandVersion: '1', params: '{}', inputs: {}, runner: 'l' },
      },
      { type: 'progress', stepId: 'train', attempt: 2, current: 3, total: 4, message: 'epoch 3' },
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

  it('marks finished, cached and failed steps with their symbols', () => {
    const { renderer } = setup();
    for (const event of sampleRun()) renderer.event(event);
    const frame = renderer.frame();
    expect(frame[0]).toContain('demo');
    expect(frame.find((line) => line.includes('prepare'))).toMatch(/^↺ prepare\s+cached from run-0/);
    expect(frame.find((line) => line.includes('train'))).toMatch(/^✔ train\s+1\.5s\s+loss=0\.1235/);
    expect(frame.find((line) => line.includes('evaluate'))).toMatch(
      /^✖ evaluate\s+200ms\s+exited with code 3/,
    );
  });

  it('redraws in place: cursor up over the previous frame, each row cleared', () => {
    const { out, renderer } = setup(['a', 'b']);
    renderer.tick();
    const first = out.text;
    expect(first).not.toContain('\x1b[3A');
    renderer.tick(); // nothing changed and nothing runs: no redraw
    expect(out.text).toBe(first);
    renderer.event(stamp('r', [{ type: 'queued', stepId: 'a' }])[0]!);
    renderer.tick();
    const second = out.text.slice(first.length);
    expect(second.startsWith('\x1b[3A\r')).toBe(true);
    expect(second).toContain('\x1b[K\n');
    expect(second.endsWith('\x1b[J')).toBe(true);
  });

  it('never writes a row wider than the terminal', () => {
    const { renderer } = setup([`step-with-a-very-long-name-${'x'.repeat(80)}`], 40);
    for (const line of renderer.frame()) expect(visibleLength(line)).toBeLessThanOrEqual(39);
  });

  it('keeps the frame within the terminal height, active steps first', () => {
    const out = new CaptureStream();
    out.isTTY = true;
    out.columns = 80;
    out.rows = 8;
    const ids = Array.from({ length: 20 }, (_, i) => `s${i}`);
    const renderer = new LiveRenderer({
      out,
      style: createStyle(false),
      view: createRunView(ids),
      now: () => 0,
    });
    renderer.event(
      stamp('r', [
        {
          type: 'started',
          stepId: 's15',
          attempt: 1,
          resources: { cpus: 1, memoryMb: 0, gpus: [] },
          key: 'k',
          keyParts: { command: 'exec', commandVersion: '1', params: '{}', inputs: {}, runner: 'l' },
        },
      ])[0]!,
    );
    const frame = renderer.frame();
    expect(frame.length).toBeLessThanOrEqual(6);
    expect(frame.some((line) => line.includes('s15'))).toBe(true);
    expect(frame.at(-1)).toContain('more steps');
  });

  it('writes notices above the live region and draws the summary after the final frame', () => {
    const { out, renderer } = setup(['a']);
    renderer.tick();
    renderer.notice('Cancelling…');
    expect(out.text).toContain('\x1b[2A\r\x1b[JCancelling…\n');
    renderer.finish('SUMMARY\n');
    expect(out.text.endsWith('\nSUMMARY\n')).toBe(true);
  });
});
