import { describe, expect, it } from 'vitest';
import {
  createStyle,
  formatBytes,
  formatDuration,
  formatNumber,
  progressBar,
  truncateVisible,
  visibleLength,
} from './format.js';

describe('format', () => {
  it('formats durations for people', () => {
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(4_210)).toBe('4.2s');
    expect(formatDuration(187_000)).toBe('3m 07s');
    expect(formatDuration(3_720_000)).toBe('1h 02m');
  });

  it('formats sizes in decimal units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(2048)).toBe('2.0 kB');
    expect(formatBytes(34_500_000)).toBe('35 MB');
  });

  it('keeps metric values short', () => {
    expect(formatNumber(0.123456)).toBe('0.1235');
    expect(formatNumber(42)).toBe('42');
  });

  it('draws a progress bar of fixed width', () => {
    expect(progressBar(5, 10, 10)).toBe('█████░░░░░');
    expect(progressBar(20, 10, 4)).toBe('████');
  });

  it('cuts lines to the visible width without breaking colour codes', () => {
    const style = createStyle(true);
    const line = `${style.green('✔')} ${'x'.repeat(50)}`;
    const cut = truncateVisible(line, 10);
    expect(visibleLength(cut)).toBe(10);
    expect(cut.endsWith('…\x1b[0m')).toBe(true);
    expect(truncateVisible('short', 10)).toBe('short');
    expect(truncateVisible('exactly10!', 10)).toBe('exactly10!');
  });
});
