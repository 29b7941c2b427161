import { describe, expect, it } from 'vitest';
import { formatNumber, oneLine, padVisible, progressBar, textWidth } from './format.js';

describe('format', () => {
  it('keeps metric values short', () => {
    expect(formatNumber(0.123456)).toBe('0.1235');
    expect(formatNumber(42)).toBe('42');
  });

  it('draws a progress bar of fixed width', () => {
    expect(progressBar(5, 10, 10)).toBe('█████░░░░░');
    expect(progressBar(20, 10, 4)).toBe('████');
  });

  it('measures and pads in terminal columns: wide characters take two, escape sequences none', () => {
    expect(textWidth('训练')).toBe(4);
    expect(textWidth('🚀x')).toBe(3);
    expect(textWidth('\x1b[32mok\x1b[39m')).toBe(2);
    expect(padVisible('训练', 6)).toBe('训练  ');
    expect(padVisible('\x1b[1mab\x1b[22m', 4)).toBe('\x1b[1mab\x1b[22m  ');
  });

  it('makes outside text safe for one status row', () => {
    expect(oneLine('epoch\t3\r\nloss')).toBe('epoch 3 loss');
    expect(oneLine('\x1b[2J\x1b[31mred\x1b[0m\x07')).toBe('red');
  });
});
