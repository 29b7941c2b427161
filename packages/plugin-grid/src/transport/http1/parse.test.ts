import { describe, expect, it } from 'vitest';
import { isGridError } from '../../errors/grid-error.js';
import { bodyFraming, ChunkedDecoder, keepsAlive, parseHead, type ResponseHead } from './parse.js';

const head = (text: string): ResponseHead | undefined => parseHead(Buffer.from(text, 'latin1'), 'srv');
const must = (text: string): ResponseHead => {
  const h = head(text);
  if (!h) throw new Error('incomplete head');
  return h;
};
const badResponse = (fn: () => unknown, why: RegExp) => {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(isGridError(thrown, 'GRID_BAD_RESPONSE'), String(thrown)).toBe(true);
  expect(String((thrown as Error).message)).toMatch(why);
};

/** Decodes a whole chunked body given in pieces; returns the payload and the bytes used. */
function decode(pieces: string[]): { payload: string; done: boolean } {
  const d = new ChunkedDecoder('srv');
  let payload = '';
  for (const p of pieces) d.push(Buffer.from(p, 'latin1'), (x) => (payload += Buffer.from(x).toString()));
  return { payload, done: d.done };
}

describe('response heads', () => {
  it('accepts bare LF line endings (as some XrdHttp builds send), alone or mixed with CRLF', () => {
    const h = must('HTTP/1.1 200 OK\nContent-Length: 5\r\nETag: "a"\n\nhello');
    expect(h.statusCode).toBe(200);
    expect(h.headers.etag).toBe('"a"');
    expect(h.contentLength).toBe(5);
    expect(h.length).toBe('HTTP/1.1 200 OK\nContent-Length: 5\r\nETag: "a"\n\n'.length);
    expect(head('HTTP/1.1 200 OK\nContent-Length: 5\n')).toBeUndefined();
  });

  it('refuses NUL, bare CR and whitespace before the colon (injection, smuggling)', () => {
    badResponse(() => head('HTTP/1.1 200 OK\r\nLocation: /a\0b\r\n\r\n'), /NUL/);
    badResponse(() => head('HTTP/1.1 200 OK\r\nLocation: /a\rSet-Cookie: x\r\n\r\n'), /CR/);
    badResponse(() => head('HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\n\r\n'), /header line/);
    badResponse(() => head('HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n'), /header line/);
    badResponse(() => head('HTTP/1.1 200 OK\r\n: x\r\n\r\n'), /header line/);
  });

  it('joins obsolete line folding with a space, and refuses a fold before the first field', () => {
    const h = must('HTTP/1.1 200 OK\r\nX-Long: one\r\n  two\r\n\tthree\r\nContent-Length: 0\r\n\r\n');
    expect(h.headers['x-long']).toBe('one two three');
    badResponse(() => head('HTTP/1.1 200 OK\r\n folded: x\r\n\r\n'), /fold/);
  });

  it('refuses status codes outside 100-599, other versions and garbage', () => {
    badResponse(() => head('HTTP/1.1 600 Odd\r\n\r\n'), /status/);
    badResponse(() => head('HTTP/1.1 099 Odd\r\n\r\n'), /status/);
    badResponse(() => head('HTTP/2 200\r\n\r\n'), /HTTP\/2 200/);
    badResponse(() => head('HTTP/1.1 20x OK\r\n\r\n'), /status/);
    expect(must('HTTP/1.1 599\r\n\r\n').statusCode).toBe(599);
  });

  it('bounds the head even when it is complete', () => {
    const long = `HTTP/1.1 200 OK\r\n${'X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n'.repeat(2000)}\r\n`;
    badResponse(() => head(long), /longer than/);
  });

  it('keeps field names out of the prototype chain', () => {
    const h = must(
      'HTTP/1.1 200 OK\r\n__proto__: x\r\nconstructor: y\r\ntoString: z\r\nContent-Length: 0\r\n\r\n',
    );
    expect(Object.getPrototypeOf(h.headers)).toBe(null);
    expect(h.headers.__proto__).toBe('x');
    expect(h.headers.constructor).toBe('y');
    expect(h.headers.tostring).toBe('z');
  });
});

describe('body framing', () => {
  const frame = (text: string, method = 'GET') => bodyFraming(must(text), method, 'srv');

  it('accepts repeated equal Content-Lengths and refuses conflicting or malformed ones', () => {
    expect(frame('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n')).toEqual({
      kind: 'length',
      length: 5,
    });
    expect(frame('HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n')).toEqual({ kind: 'length', length: 5 });
    expect(frame('HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\n')).toEqual({ kind: 'length', length: 7 });
    for (const v of ['5\r\nContent-Length: 6', '5, 6', '-1', '+5', '0x10', '', '1e3', '9999999999999999'])
      badResponse(() => head(`HTTP/1.1 200 OK\r\nContent-Length: ${v}\r\n\r\n`), /Content-Length/);
    // Also on a HEAD (its Content-Length is the file's size), and on a 304.
    badResponse(
      () => head('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n'),
      /Content-Length/,
    );
  });

  it('refuses Transfer-Encoding with Content-Length, codings other than chunked, and chunked in HTTP/1.0', () => {
    badResponse(
      () => frame('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n'),
      /Transfer-Encoding and Content-Length/,
    );
    badResponse(() => frame('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'), /gzip/);
    badResponse(() => frame('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n'), /gzip/);
    badResponse(() => frame('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n'), /chunked/);
    badResponse(() => frame('HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), /HTTP\/1\.0/);
    expect(frame('HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n')).toEqual({ kind: 'chunked' });
  });

  it('reads HTTP/1.0 to the close unless it has a length, and keeps it alive only when asked', () => {
    const plain = must('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n');
    const kept = must('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n');
    expect(keepsAlive(plain, bodyFraming(plain, 'GET', 'srv'))).toBe(false);
    expect(keepsAlive(kept, bodyFraming(kept, 'GET', 'srv'))).toBe(true);
    expect(frame('HTTP/1.0 200 OK\r\n\r\n')).toEqual({ kind: 'close' });
    expect(frame('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n', 'HEAD')).toEqual({ kind: 'none' });
  });
});

describe('chunked bodies', () => {
  it('accepts leading zeros, extensions, trailers and bare LF line endings', () => {
    expect(decode(['0000000000000000000005;a=b\r\nhello\r\n', '6\nworld!\n0\r\nX-T: 1\r\n\r\n'])).toEqual({
      payload: 'helloworld!',
      done: true,
    });
    expect(decode(['3\r\nabc\r\n0\n\n'])).toEqual({ payload: 'abc', done: true });
  });

  it('refuses overflowing, negative and prefixed sizes', () => {
    badResponse(() => decode(['10000000000000\r\n']), /chunk size/);
    badResponse(() => decode(['-1\r\n']), /chunk size/);
    badResponse(() => decode(['0x5\r\n']), /chunk size/);
    badResponse(() => decode(['\r\n']), /chunk size/);
  });

  it('bounds chunk extensions and trailers (a server cannot keep the body going without data)', () => {
    badResponse(() => decode(['5;', 'x'.repeat(20_000)]), /chunk extension/);
    badResponse(() => decode(['0\r\n', 'X-Trailer: yyyyyyyyyyyyyyyyyy\r\n'.repeat(4000)]), /trailer/);
  });
});
