import { describe, expect, it } from 'vitest';
import type { HttpError } from './http-error.js';
import { encodePath, parseRequestPath } from './request-path.js';

function status(target: string): number | undefined {
  try {
    parseRequestPath(target);
    return undefined;
  } catch (error) {
    return (error as HttpError).status;
  }
}

describe('parseRequestPath', () => {
  it('decodes segments strictly and keeps names with spaces, #, %, Unicode and emoji', () => {
    expect(parseRequestPath('/data/a%20b/%23x%25/%C3%BCml%C3%A4ut/%F0%9F%98%80.txt?x=1').segments).toEqual([
      'data',
      'a b',
      '#x%',
      'ümläut',
      '😀.txt',
    ]);
    expect(parseRequestPath('/data//sub/').segments).toEqual(['data', 'sub']);
    expect(parseRequestPath('/data/sub/').trailingSlash).toBe(true);
    expect(parseRequestPath('http://host:8080/data/x').segments).toEqual(['data', 'x']);
  });

  it.each([
    ['/data/../etc/passwd', 'plain dot-dot'],
    ['/data/./x', 'plain dot'],
    ['/data/%2e%2e/%2e%2e/etc/passwd', 'encoded dot-dot'],
    ['/data/%2E%2E/x', 'upper-case encoded dot-dot'],
    ['/data/..%2fetc', 'encoded slash'],
    ['/data/%2F', 'encoded slash alone'],
    ['/data/..%5c..%5cetc', 'encoded backslash'],
    ['/data/..\\..\\etc', 'raw backslash'],
    ['/data/a%00b', 'NUL'],
    ['/data/a%00', 'NUL at the end'],
    ['/data/%c0%ae%c0%ae/etc', 'overlong UTF-8 dot'],
    ['/data/%ff', 'invalid UTF-8'],
    ['/data/%zz', 'malformed escape'],
    ['/data/%', 'truncated escape'],
    ['/data/a%0ab', 'control character'],
    ['/data/x#frag', 'fragment'],
  ])('refuses %s (%s) with 400', (target) => {
    expect(status(target)).toBe(400);
  });

  it('keeps a double-encoded dot-dot as a literal name (it cannot climb)', () => {
    expect(parseRequestPath('/data/%252e%252e/x').segments).toEqual(['data', '%2e%2e', 'x']);
  });

  it('refuses over-long paths and segments with 414', () => {
    expect(status(`/data/${'a'.repeat(256)}`)).toBe(414);
    expect(status(`/${'a/'.repeat(200)}`)).toBe(414);
  });

  it('encodes segments back so that they round-trip', () => {
    const names = ['a b', '#x%', 'ümläut', '😀', "it's (1)", 'a+b&c=d'];
    const encoded = encodePath(names);
    expect(parseRequestPath(encoded).segments).toEqual(names);
    expect(encoded).not.toMatch(/[ #'()]/);
  });
});
