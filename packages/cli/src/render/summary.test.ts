import { describe, expect, it } from 'vitest';
import { sampleRun } from '../testing/synthetic-events.js';
import { createStyle } from './format.js';
import { applyRunEvent, createRunView } from './run-view.js';
import { quoteArg, renderSummary } from './summary.js';

describe('renderSummary', () => {
  it('reports counts, failures with their last output, metrics, artifacts and next commands', () => {
    const view = createRunView();
    for (const event of sampleRun()) applyRunEvent(view, event);
    const text = renderSummary(
      view,
      { runId: 'run-1', status: 'failed', steps: {}, durationMs: 2500 },
      { cwd: '/work', style: createStyle(false) },
    );
    expect(text).toContain('Run run-1 failed in 2.5s');
    expect(text).toContain('3 steps: 1 succeeded, 1 cached, 1 failed');
    expect(text).toMatch(
      /Failed\n\s+evaluate\s+CORE_PROCESS_FAILED: exited with code 3\n\s+boom: file missing/,
    );
    expect(text).toMatch(/Metrics\n\s+train\s+loss=0\.1235/);
    expect(text).toMatch(/Artifacts\n\s+train\s+model\s+out\/model\.json\s+2\.0 kB/);
    expect(text).toContain('beamline show run-1');
    expect(text).toContain('beamline logs run-1 evaluate');
    expect(text).toContain('beamline resume run-1');
  });

  it('quotes matrix step ids in hints', () => {
    expect(quoteArg('train[dataset=a]')).toBe("'train[dataset=a]'");
    expect(quoteArg('train')).toBe('train');
  });
});
