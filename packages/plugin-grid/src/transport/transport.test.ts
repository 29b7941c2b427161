import { describe, expect, it } from 'vitest';
import { GridError } from '../errors/grid-error.js';
import { parseRetryAfter, retryDelay } from '../schedule/backoff.js';
import { classifyFailure, statusError, toGridError } from './failure.js';
import { parseContentRange, parseDigestHeader, redactUrl, strongEtag } from './http-headers.js';
import { splitSegments } from './http-segmented.js';
import { parseXrdcpProgress } from './xrdcp-driver.js';

describe('failure classes', () => {
  const cls = (e: GridError) => classifyFailure(e);
  it('retries the same replica for lost connections, 429 and 503 with Retry-After', () => {
    expect(cls(toGridError(Object.assign(new Error('x'), { code: 'ECONNRESET' }), 'u'))).toBe('retry');
    expect(cls(toGridError(Object.assign(new Error('broken pipe'), { code: 'EPIPE' }), 'u'))).toBe('retry');
    expect(cls(statusError(429, 'u', undefined))).toBe('retry');
    expect(cls(statusError(503, 'u', 1000))).toBe('retry');
  });
  it('moves on for refused connections, other 5xx, 503 without Retry-After, 401/403/404, stalls and mismatches', () => {
    expect(cls(toGridError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 'u'))).toBe(
      'next-replica',
    );
    expect(cls(toGridError({ cause: { code: 'EHOSTUNREACH' }, message: 'x' }, 'u'))).toBe('next-replica');
    for (const s of [500, 502, 503, 401, 403, 404])
      expect(cls(statusError(s, 'u', undefined))).toBe('next-replica');
    expect(cls(new GridError('GRID_STALLED', 'slow'))).toBe('next-replica');
    expect(cls(new GridError('GRID_CHECKSUM_MISMATCH', 'bad'))).toBe('next-replica');
  });
  it('stops for local I/O errors and aborts; refusals are not retryable', () => {
    expect(cls(toGridError(Object.assign(new Error('disk full'), { code: 'ENOSPC' }), 'u'))).toBe('fatal');
    expect(cls(new GridError('GRID_ABORTED', 'x'))).toBe('fatal');
    expect(statusError(401, 'u', undefined).retryable).toBe(false);
    expect(statusError(500, 'u', undefined).retryable).toBe(true);
  });
});

describe('HTTP headers', () => {
  it('parses and validates Content-Range', () => {
    expect(parseContentRange('bytes 10-19/100')).toEqual({ start: 10, end: 19, total: 100 });
    expect(parseContentRange('bytes 10-19/*')).toEqual({ start: 10, end: 19, total: undefined });
    expect(parseContentRange('bytes 20-10/100')).toBeUndefined();
    expect(parseContentRange('bytes 10-100/100')).toBeUndefined();
    expect(parseContentRange(undefined)).toBeUndefined();
  });
  it('keeps only requested, well-formed digests (stale SHA-512 from old XrdHttp is dropped)', () => {
    expect(parseDigestHeader('adler32=49757f2a', ['adler32'])).toEqual({ adler32: '49757f2a' });
    expect(parseDigestHeader('SHA-512=SXV/Kg==', ['adler32'])).toEqual({});
    expect(parseDigestHeader('md5=1B2M2Y8AsgTpgAmY7PhCfg==,adler32=zz', ['adler32', 'md5'])).toEqual({
      md5: 'd41d8cd98f00b204e9800998ecf8427e',
    });
  });
  it('uses only strong ETags for If-Range and redacts URLs', () => {
    expect(strongEtag('W/"x"')).toBeUndefined();
    expect(strongEtag('"x"')).toBe('"x"');
    expect(redactUrl('root://u:p@h:1094//a?authz=SECRET&x=1')).not.toMatch(/SECRET|u:p/);
  });
});

describe('backoff', () => {
  it("uses core's rule with grid's timing (0.5 s doubling to 30 s, ±50 %), and Retry-After wins", () => {
    expect(retryDelay(1, undefined, {}, () => 0.5)).toBe(500);
    expect(retryDelay(4, undefined, {}, () => 0.5)).toBe(4000);
    expect(retryDelay(1, undefined, {}, () => 1)).toBe(750);
    expect(retryDelay(1, undefined, {}, () => 0)).toBe(250);
    expect(retryDelay(20, undefined, {}, () => 1)).toBe(30_000);
    expect(retryDelay(2, undefined, { initialDelayMs: 10, maxDelayMs: 15, jitter: 0 })).toBe(15);
    expect(retryDelay(3, 2000)).toBe(2000);
    expect(retryDelay(3, 10 ** 9)).toBe(30_000);
  });
  it('parses Retry-After seconds and dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 5000)).toBe(5000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

describe('segments and xrdcp progress', () => {
  it('splits a file into covering segments', () => {
    expect(splitSegments(10, 3)).toEqual([
      { start: 0, end: 4, done: 0, durable: 0 },
      { start: 4, end: 8, done: 0, durable: 0 },
      { start: 8, end: 10, done: 0, durable: 0 },
    ]);
  });
  it('reads the last record of the xrdcp progress bar', () => {
    const out =
      '\r[8MB/47.68MB][ 16%][========>   ][8MB/s]  \r[47.68MB/47.68MB][100%][==========][47.68MB/s]  ';
    expect(parseXrdcpProgress(out)).toEqual({
      bytes: Math.round(47.68 * 1024 * 1024),
      total: Math.round(47.68 * 1024 * 1024),
      percent: 100,
    });
    expect(parseXrdcpProgress('[512kB/1MB][ 50%]')).toEqual({
      bytes: 512 * 1024,
      total: 1024 * 1024,
      percent: 50,
    });
    expect(parseXrdcpProgress('nothing')).toBeUndefined();
  });
});
