import { describe, expect, it } from 'vitest';
import { parseDuration } from './parse-duration.js';

describe('parseDuration', () => {
  it('reads units, combinations and milliseconds', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1h 30m 15s')).toBe(5_415_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration(1234)).toBe(1234);
  });

  it('reads a bare number, also in a string, as milliseconds', () => {
    expect(parseDuration('5')).toBe(5);
    expect(parseDuration(' 1500 ')).toBe(1500);
    expect(parseDuration('2.5')).toBe(2.5);
  });

  it('rejects anything else', () => {
    for (const value of ['', '0', '-5', '5 minutes', 'm5', '0s', '-1s', 0, -5, Number.NaN, true, null]) {
      expect(parseDuration(value), String(value)).toBeUndefined();
    }
  });
});
