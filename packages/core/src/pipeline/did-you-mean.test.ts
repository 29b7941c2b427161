import { describe, expect, it } from 'vitest';
import { closestMatch, didYouMean, listNames } from './did-you-mean.js';

describe('closestMatch', () => {
  it('finds near misses', () => {
    expect(closestMatch('need', ['name', 'uses', 'needs'])).toBe('needs');
    expect(closestMatch('width', ['with', 'name'])).toBe('with');
    expect(closestMatch('memoryMb', ['cpus', 'memory', 'gpus'])).toBe('memory');
    expect(closestMatch('exce', ['exec', 'grid.download'])).toBe('exec');
    expect(closestMatch('Uses', ['uses'])).toBe('uses');
  });

  it('does not suggest unrelated names', () => {
    expect(closestMatch('foo', ['uses', 'with'])).toBeUndefined();
    expect(closestMatch('x', [])).toBeUndefined();
  });

  it('formats a hint and a list', () => {
    expect(didYouMean('need', ['needs'])).toBe(' (did you mean "needs"?)');
    expect(didYouMean('zzz', ['needs'])).toBe('');
    expect(listNames(['a', 'b'])).toBe('a, b');
    expect(listNames([])).toBe('none');
  });
});
