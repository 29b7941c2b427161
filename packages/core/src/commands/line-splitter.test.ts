import { describe, expect, it } from 'vitest';
import { LineChunker } from './line-splitter.js';

describe('LineChunker', () => {
  it('splits at the last newline and carries the partial line', () => {
    const chunker = new LineChunker();
    expect(chunker.push(Buffer.from('a\nb'))).toBe('a\n');
    expect(chunker.push(Buffer.from('c'))).toBeUndefined();
    expect(chunker.push(Buffer.from('d\ne\nf'))).toBe('bcd\ne\n');
    expect(chunker.push(Buffer.from('\n'))).toBe('f\n');
    expect(chunker.flush()).toBeUndefined();
  });

  it('decodes characters split across reads and flushes the rest', () => {
    const bytes = Buffer.from('€\n😀x');
    const chunker = new LineChunker();
    const parts = [...bytes].map((byte) => chunker.push(Buffer.from([byte])));
    expect(parts.filter((p) => p !== undefined)).toEqual(['€\n']);
    expect(chunker.flush()).toBe('😀x');
  });

  it('passes on a very long line without waiting for its newline', () => {
    const chunker = new LineChunker();
    const big = 'x'.repeat(1 << 20);
    expect(chunker.push(Buffer.from(big))).toBe(big);
    expect(chunker.push(Buffer.from('y\n'))).toBe('y\n');
  });
});
