import { afterEach, describe, expect, it, vi } from 'vitest';
import { LogBuffer, type LogStream } from './log-buffer.js';

describe('LogBuffer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const recorder = (): { out: [LogStream, string][]; buffer: (max?: number) => LogBuffer } => {
    const out: [LogStream, string][] = [];
    return { out, buffer: (max = 10) => new LogBuffer((stream, text) => out.push([stream, text]), max, 50) };
  };

  it('coalesces until the size limit', () => {
    const { out, buffer } = recorder();
    const logs = buffer(10);
    logs.add('stdout', 'abc\n');
    logs.add('stdout', 'def\n');
    expect(out).toEqual([]);
    logs.add('stdout', 'ghi\n');
    expect(out).toEqual([['stdout', 'abc\ndef\nghi\n']]);
    logs.dispose();
  });

  it('flushes on a change of stream, on flush and after the delay', () => {
    vi.useFakeTimers();
    const { out, buffer } = recorder();
    const logs = buffer(1000);
    logs.add('stdout', 'a\n');
    logs.add('stderr', 'b\n');
    expect(out).toEqual([['stdout', 'a\n']]);
    vi.advanceTimersByTime(60);
    expect(out).toEqual([
      ['stdout', 'a\n'],
      ['stderr', 'b\n'],
    ]);
    logs.add('stderr', 'c\n');
    logs.flush();
    logs.flush();
    expect(out.at(-1)).toEqual(['stderr', 'c\n']);
    expect(out).toHaveLength(3);
  });

  it('drops held text on dispose', () => {
    vi.useFakeTimers();
    const { out, buffer } = recorder();
    const logs = buffer(1000);
    logs.add('stdout', 'a\n');
    logs.dispose();
    vi.advanceTimersByTime(100);
    expect(out).toEqual([]);
  });
});
