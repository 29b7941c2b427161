import { afterEach, describe, expect, it, vi } from 'vitest';
import { LogBuffer, type LogStream } from './log-buffer.js';

const bytes = (text: string): Buffer[] => [Buffer.from(text)];

describe('LogBuffer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const recorder = (): { out: [LogStream, string][]; buffer: (max?: number) => LogBuffer } => {
    const out: [LogStream, string][] = [];
    return { out, buffer: (max = 10) => new LogBuffer((stream, text) => out.push([stream, text]), max, 50) };
  };

  it('coalesces up to the size limit, never past it with more than one chunk', () => {
    const { out, buffer } = recorder();
    const logs = buffer(10);
    logs.add('stdout', bytes('abc\n'));
    logs.add('stdout', bytes('def\n'));
    expect(out).toEqual([]);
    // 12 bytes would pass the limit: what is held goes first.
    logs.add('stdout', bytes('ghi\n'));
    expect(out).toEqual([['stdout', 'abc\ndef\n']]);
    logs.add('stdout', bytes('jklmn\n'));
    expect(out).toEqual([
      ['stdout', 'abc\ndef\n'],
      ['stdout', 'ghi\njklmn\n'],
    ]);
    // A chunk larger than the limit is an event of its own.
    logs.add('stdout', bytes('0123456789abc\n'));
    expect(out.at(-1)).toEqual(['stdout', '0123456789abc\n']);
    logs.dispose();
  });

  it('flushes on a change of stream, on flush and after the delay', () => {
    vi.useFakeTimers();
    const { out, buffer } = recorder();
    const logs = buffer(1000);
    logs.add('stdout', bytes('a\n'));
    logs.add('stderr', bytes('b\n'));
    expect(out).toEqual([['stdout', 'a\n']]);
    vi.advanceTimersByTime(60);
    expect(out).toEqual([
      ['stdout', 'a\n'],
      ['stderr', 'b\n'],
    ]);
    logs.add('stderr', bytes('c\n'));
    logs.flush();
    logs.flush();
    expect(out.at(-1)).toEqual(['stderr', 'c\n']);
    expect(out).toHaveLength(3);
  });

  it('decodes the held chunks together, once per event, and counts bytes', () => {
    const { out, buffer } = recorder();
    const logs = buffer(8);
    const euro = Buffer.from('€\n');
    // Two chunks that only decode together: the character is split between them.
    logs.add('stdout', [Buffer.from('a'), euro.subarray(0, 1)]);
    logs.add('stdout', [euro.subarray(1), Buffer.alloc(0)]);
    expect(out).toEqual([]);
    logs.add('stdout', bytes('bc\n'));
    // 8 bytes: the limit is reached.
    expect(out).toEqual([['stdout', 'a€\nbc\n']]);
    logs.dispose();
  });

  it('drops held text on dispose', () => {
    vi.useFakeTimers();
    const { out, buffer } = recorder();
    const logs = buffer(1000);
    logs.add('stdout', bytes('a\n'));
    logs.dispose();
    vi.advanceTimersByTime(100);
    expect(out).toEqual([]);
  });
});
