import { describe, expect, it } from 'vitest';
import { createStyle } from '../render/format.js';
import { formatChange, formatExplanation } from './explain-command.js';

const plain = createStyle(false);

describe('explain formatting', () => {
  it('names the changed argument of a command line, not the whole list', () => {
    const change = {
      part: 'params' as const,
      before: JSON.stringify({ command: ['node', 'train.mjs', '--epochs=40'] }),
      after: JSON.stringify({ command: ['node', 'train.mjs', '--epochs=80'] }),
    };
    expect(formatChange(change, plain)).toEqual(['  params         command[2]: --epochs=40 → --epochs=80']);
  });

  it('shows input digests short and missing values as (none)', () => {
    const change = { part: 'inputs' as const, before: { 'prepare/data': 'a'.repeat(64) }, after: {} };
    expect(formatChange(change, plain)).toEqual(['  inputs         prepare/data: aaaaaaaaaaaa… → (none)']);
  });

  it('prints scalar parts as before → after', () => {
    expect(formatChange({ part: 'commandVersion', before: '1', after: '2' }, plain)).toEqual([
      '  commandVersion 1 → 2',
    ]);
  });

  it('prints the summary and the run compared with', () => {
    const text = formatExplanation(
      {
        runId: 'r2',
        stepId: 'train',
        status: 'succeeded',
        key: 'k2',
        comparedWith: { runId: 'r1', key: 'k1' },
        changes: [{ part: 'runner', before: 'local@a', after: 'local@b' }],
        summary: 'Ran because runner changed since run r1.',
      },
      plain,
    );
    expect(text).toContain('compared with run r1 (key k1)');
    expect(text).toContain('Ran because runner changed since run r1.');
    expect(text).toContain('runner         local@a → local@b');
  });
});
