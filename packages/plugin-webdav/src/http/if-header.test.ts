import { describe, expect, it } from 'vitest';
import type { HttpError } from './http-error.js';
import { parseIfHeader, submittedTokens } from './if-header.js';

describe('parseIfHeader', () => {
  it('reads untagged lists, Not, tokens and entity tags', () => {
    expect(parseIfHeader('(<urn:uuid:a> ["etag"]) (Not <DAV:no-lock>)')).toEqual([
      {
        resource: undefined,
        conditions: [
          { not: false, kind: 'token', token: 'urn:uuid:a' },
          { not: false, kind: 'etag', etag: '"etag"' },
        ],
      },
      { resource: undefined, conditions: [{ not: true, kind: 'token', token: 'DAV:no-lock' }] },
    ]);
  });

  it('reads tagged lists (several lists per resource)', () => {
    const lists = parseIfHeader('<http://h/a> (<urn:uuid:1>) (["x"]) </b> (<urn:uuid:2>)');
    expect(lists.map((list) => list.resource)).toEqual(['http://h/a', 'http://h/a', '/b']);
    expect(submittedTokens(lists)).toEqual(['urn:uuid:1', 'urn:uuid:2']);
  });

  it.each([
    '',
    '(',
    '()',
    '(<urn:uuid:a>',
    '<http://h/a>',
    '(<urn:uuid:a>) <http://h/b> (<urn:uuid:c>)',
    '(urn:uuid:a)',
    '([unquoted])',
    '(Not)',
    'garbage',
    '(<a b>)',
    `(${'<urn:x> '.repeat(5000)})`,
  ])('answers 400 to the malformed %j', (header) => {
    expect(() => parseIfHeader(header)).toThrow(expect.objectContaining({ status: 400 }) as HttpError);
  });
});
