import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration } from './format.js';

describe('formatDuration', () => {
  it('prints milliseconds, seconds with one decimal, then minutes and hours', () => {
    expect(formatDuration(0)).toBe('0ms');
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(4_210)).toBe('4.2s');
    expect(formatDuration(187_000)).toBe('3m 07s');
    expect(formatDuration(3_720_000)).toBe('1h 02m');
  });

  it('never prints a rounded-up unit boundary', () => {
    expect(formatDuration(59_960)).toBe('1m 00s');
    expect(formatDuration(59_940)).toBe('59.9s');
  });

  it('prints - for values that are not durations', () => {
    expect(formatDuration(-1)).toBe('-');
    expect(formatDuration(Number.NaN)).toBe('-');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('-');
  });
});

describe('formatBytes', () => {
  it('prints decimal units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(2048)).toBe('2.0 kB');
    expect(formatBytes(34_500_000)).toBe('35 MB');
    expect(formatBytes(268_435_456)).toBe('268 MB');
    expect(formatBytes(1_073_741_824)).toBe('1.1 GB');
  });

  it('moves to the next unit instead of printing 1000 of one', () => {
    expect(formatBytes(999_999)).toBe('1.0 MB');
    expect(formatBytes(9_960)).toBe('10 kB');
  });

  it('prints - for values that are not sizes', () => {
    expect(formatBytes(-1)).toBe('-');
    expect(formatBytes(Number.NaN)).toBe('-');
  });
});
