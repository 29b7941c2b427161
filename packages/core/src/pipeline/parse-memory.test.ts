import { describe, expect, it } from 'vitest';
import { parseMemory } from './parse-memory.js';

describe('parseMemory', () => {
  it('reads sizes in MiB', () => {
    expect(parseMemory('512m')).toBe(512);
    expect(parseMemory('4g')).toBe(4096);
    expect(parseMemory('4GiB')).toBe(4096);
    expect(parseMemory('4GB')).toBe(4096);
    expect(parseMemory('1.5g')).toBe(1536);
    expect(parseMemory('1t')).toBe(1_048_576);
    expect(parseMemory('100k')).toBe(1);
    expect(parseMemory(256)).toBe(256);
    expect(parseMemory(0)).toBe(0);
  });

  it('reads a bare number, also in a string, as MiB', () => {
    expect(parseMemory('4')).toBe(4);
    expect(parseMemory('1.5')).toBe(2);
    expect(parseMemory(' 512 ')).toBe(512);
  });

  it('rejects anything else', () => {
    for (const value of ['', '4x', 'g4', 'b', '4 b', '-1g', -1, Number.POSITIVE_INFINITY, false]) {
      expect(parseMemory(value), String(value)).toBeUndefined();
    }
  });
});
