import { describe, expect, it } from 'vitest';
import { CaptureStream } from '../testing/fake-io.js';
import { sampleRun, stamp } from '../testing/synthetic-events.js';
import { JsonRenderer } from './json-renderer.js';
import { PlainRenderer } from './plain-renderer.js';
import { createRunView } from './run-view.js';

describe('PlainRenderer', () => {
  it('writes one plain line per event, log lines prefixed with the step id, no escape codes', () => {
    const out = new CaptureStream();
    const renderer = new PlainRenderer(out, createRunView(), '/work');
    for (const event of sampleRun()) renderer.event(event);
    const lines = out.text.trimEnd().split('\n');
    expect(out.text).not.toContain('\x1b');
    expect(lines).toContain('run run-1 started: demo');
    expect(lines).toContain('prepare cached (result of run run-0)');
    expect(lines).toContain('train | epoch 1');
    expect(lines).toContain('train | epoch 2');
    expect(lines).toContain('train progress 5/10');
    expect(lines).toContain('train metric loss=0.1235 (step 5)');
    expect(lines).toContain('train artifact model: out/model.json (2.0 kB)');
    expect(lines).toContain('evaluate ! boom: file missing');
    expect(lines).toContain('evaluate failed (attempt 1, 200ms): CORE_PROCESS_FAILED: exited with code 3');
    expect(lines.at(-1)).toBe('run run-1 failed after 2.5s: step evaluate failed');
  });
});

describe('PlainRenderer markers', () => {
  it('leaves out ::metric and ::progress lines, which are shown as their own events', () => {
    const out = new CaptureStream();
    const renderer = new PlainRenderer(out, createRunView(), '/work');
    const [log] = stamp('r', [
      {
        type: 'log',
        stepId: 's',
        attempt: 1,
        stream: 'stdout',
        text: '::metric a=1\nreal\n::progress 1/2\n::output x=1\n',
      },
    ]);
    renderer.event(log!);
    expect(out.text).toBe('s | real\ns | ::output x=1\n');
  });
});

describe('JsonRenderer', () => {
  it('writes exactly one JSON object per event per line, each with runId, and notices to stderr', () => {
    const out = new CaptureStream();
    const err = new CaptureStream();
    const renderer = new JsonRenderer(out, err, createRunView());
    const events = sampleRun('run-42');
    for (const event of events) renderer.event(event);
    renderer.notice('Cancelling…');
    renderer.finish();
    const lines = out.text.trimEnd().split('\n');
    expect(lines).toHaveLength(events.length);
    const parsed = lines.map((line) => JSON.parse(line) as { runId: string; seq: number });
    expect(parsed.every((event) => event.runId === 'run-42')).toBe(true);
    expect(parsed.map((event) => event.seq)).toEqual(events.map((event) => event.seq));
    expect(err.text).toBe('Cancelling…\n');
  });
});
