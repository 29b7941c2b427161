import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCoreError } from '../errors/core-error.js';
import { loadPipelineFile, parsePipeline } from './load-pipeline-file.js';
import { quoteText } from '../util/quote-text.js';
import { boundMessage, describeValue, MAX_LISTED_ISSUES } from './pipeline-issue.js';

async function loadError(text: string | Buffer): Promise<Error & { details: Record<string, unknown> }> {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'beamline-issue-')), 'garbage.yaml');
  writeFileSync(file, text);
  try {
    await loadPipelineFile(file);
  } catch (error) {
    expect(isCoreError(error, 'CORE_PIPELINE_INVALID')).toBe(true);
    return error as Error & { details: Record<string, unknown> };
  }
  throw new Error('expected an invalid pipeline');
}

describe('error output is bounded', () => {
  it('prints a few kilobytes for 50 MB of random bytes', async () => {
    const error = await loadError(randomBytes(50 * 1024 * 1024));
    expect(error.message.length).toBeLessThan(20_000);
    expect(JSON.stringify(error.details).length).toBeLessThan(40_000);
    for (const line of error.message.split('\n')) expect(line.length).toBeLessThanOrEqual(600);
    // Nothing unprintable reaches the terminal.
    // eslint-disable-next-line no-control-regex
    expect(error.message).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  }, 60_000);

  it('lists 20 issues and counts the rest', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `key${i}: [unclosed\n`).join('');
    const error = await loadError(lines);
    const printed = error.message.split('\n');
    expect(printed[0]).toMatch(/\(5,000 issues\):$/);
    expect(printed).toHaveLength(1 + MAX_LISTED_ISSUES + 1);
    expect(printed.at(-1)).toBe('  … and 4,980 more');
    expect(error.details.issues).toHaveLength(MAX_LISTED_ISSUES);
    expect(error.details.total).toBe(5000);
  });

  it('escapes control characters and NUL in quoted values and keys', () => {
    let message = '';
    try {
      parsePipeline(
        JSON.stringify({
          name: 'p',
          steps: { s: { uses: 'exec', retry: 'a\u0000b\u001b[2Jc' }, 'x\u0000y': {} },
        }),
        'p.json',
      );
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('got "a\\u0000b\\u001b[2Jc"');
    expect(message).toContain("steps['x\\u0000y']");
    // eslint-disable-next-line no-control-regex
    expect(message).not.toMatch(/[\u0000\u001b]/);
  });
});

describe('quoting helpers', () => {
  it('quote, escape and cut without breaking an escape', () => {
    expect(quoteText('plain')).toBe('"plain"');
    expect(quoteText('say "hi"\\')).toBe('"say \\"hi\\"\\\\"');
    expect(quoteText('\u0000\n\u202e')).toBe('"\\u0000\\n\\u202e"');
    const long = quoteText('\u0007'.repeat(100));
    expect(long.length).toBeLessThanOrEqual(80);
    expect(long).toMatch(/^"(\\u0007)+…"$/);
    expect(describeValue('x'.repeat(1000))).toHaveLength(80);
  });

  it('bounds the excerpts a parser quotes in its own messages', () => {
    const message = `Unexpected scalar token in YAML stream: ${JSON.stringify('\u0001'.repeat(10_000))}`;
    const bounded = boundMessage(message);
    expect(bounded.length).toBeLessThan(140);
    expect(bounded).toMatch(/stream: "(\\u0001)+…"$/);
  });

  it('bounds a message that quotes megabytes (a garbage file quoted whole), without overflowing the stack', () => {
    // 20 MB in one excerpt overflowed the regular expression's backtracking stack; 50 MB of random bytes
    // as a pipeline file met it now and then.
    for (const inner of ['a'.repeat(20_000_000), '\\x'.repeat(10_000_000)]) {
      const bounded = boundMessage(`Unexpected scalar token in YAML stream: "${inner}"`);
      expect(bounded.length).toBeLessThanOrEqual(400);
      expect(bounded).toMatch(/^Unexpected scalar token in YAML stream: "/);
    }
  });
});
