import { describe, expect, it } from 'vitest';
import { LineChunker } from './line-splitter.js';

const text = (chunks: Buffer[] | Buffer | undefined): string | undefined =>
  chunks === undefined
    ? undefined
    : Array.isArray(chunks)
      ? Buffer.concat(chunks).toString()
      : chunks.toString();

describe('LineChunker', () => {
  it('splits at the last newline and carries the partial line', () => {
    const chunker = new LineChunker();
    expect(text(chunker.push(Buffer.from('a\nb')))).toBe('a\n');
    expect(chunker.push(Buffer.from('c'))).toBeUndefined();
    expect(chunker.push(Buffer.alloc(0))).toBeUndefined();
    expect(text(chunker.push(Buffer.from('d\ne\nf')))).toBe('bcd\ne\n');
    expect(text(chunker.push(Buffer.from('\n')))).toBe('f\n');
    expect(chunker.flush()).toBeUndefined();
  });

  it('returns chunks of whole lines, copying only the line that straddles two reads', () => {
    const chunker = new LineChunker();
    const first = Buffer.from('one\ntw');
    const [a] = chunker.push(first)!;
    expect(a?.buffer).toBe(first.buffer);
    const second = Buffer.from('o\nthree\nfour\nfi');
    const chunks = chunker.push(second)!;
    expect(chunks.map((c) => c.toString())).toEqual(['two\n', 'three\nfour\n']);
    expect(chunks[1]?.buffer).toBe(second.buffer);
    expect(chunker.push(Buffer.from('ve\n'))?.map((c) => c.toString())).toEqual(['five\n']);
    expect(text(chunker.flush())).toBeUndefined();
  });

  it('keeps characters split across reads whole and flushes the rest', () => {
    const bytes = Buffer.from('€\n😀x');
    const chunker = new LineChunker();
    const parts = [...bytes].map((byte) => chunker.push(Buffer.from([byte])));
    expect(parts.filter((p) => p !== undefined).map(text)).toEqual(['€\n']);
    expect(text(chunker.flush())).toBe('😀x');
  });

  it('passes on a very long line without waiting for its newline, cut between characters', () => {
    const chunker = new LineChunker();
    const big = 'x'.repeat(1 << 20);
    expect(text(chunker.push(Buffer.from(big)))).toBe(big);
    expect(text(chunker.push(Buffer.from('y\n')))).toBe('y\n');
    // A 4-byte character cut by the limit waits for the next read instead of turning into U+FFFD.
    const emoji = Buffer.from('😀');
    const passed = text(
      chunker.push(Buffer.concat([Buffer.from('x'.repeat((1 << 20) - 2)), emoji.subarray(0, 2)])),
    );
    expect(passed?.length).toBe((1 << 20) - 2);
    expect(passed?.includes('\uFFFD')).toBe(false);
    expect(text(chunker.push(Buffer.concat([emoji.subarray(2), Buffer.from('z\n')])))).toBe('😀z\n');
  });
});
