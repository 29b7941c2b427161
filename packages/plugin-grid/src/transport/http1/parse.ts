import { quoteText } from '@beamline/core';
import { GridError } from '../../errors/grid-error.js';

/**
 * Response header fields by lower-case name; a repeated field gives an array. The object has no
 * prototype, so a field named `__proto__` or `constructor` is a field like any other.
 */
export type HttpHeaders = Record<string, string | string[]>;

/** A parsed response head. */
export interface ResponseHead {
  readonly statusCode: number;
  /** `1.1` or `1.0`. */
  readonly version: string;
  readonly headers: HttpHeaders;
  /** The Content-Length, validated (repeated only with one value); undefined when absent. */
  readonly contentLength: number | undefined;
  /** Bytes of the head, its final empty line included: the body starts here. */
  readonly length: number;
}

/** How the body of a response is delimited (RFC 9112 6.3). */
export type BodyFraming =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' }
  | { readonly kind: 'close' };

/** The longest response head accepted (status line and fields; also all interim heads together). */
export const MAX_HEAD_BYTES = 64 * 1024;
/** The longest chunk size line (size and extensions), as Node's own parser bounds extensions. */
const MAX_CHUNK_LINE_BYTES = 16 * 1024;
/** Significant hex digits of a chunk size: 12 is 256 TiB, well inside a double's exact integers. */
const MAX_CHUNK_SIZE_DIGITS = 12;

const LF = 0x0a;
const CR = 0x0d;
const HTTP1_PREFIX = Buffer.from('HTTP/1.');
/** A field name (RFC 9110 token). */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?:[ \t].*)?$/;
const SPACE_AROUND = /^[ \t]+|[ \t]+$/g;

/** An unparseable response: the server is not speaking HTTP/1.1 properly (retried like a bad partial response). */
export function protocolError(where: string, why: string): GridError {
  return new GridError('GRID_BAD_RESPONSE', `${where}: invalid HTTP response: ${why}`, { retryable: true });
}

/**
 * Whether the first `length` bytes of `data` can start an HTTP/1.x response: checked on the first
 * bytes, so a server speaking another protocol (TLS, HTTP/2, SSH) fails at once instead of at a timeout.
 */
export function startsLikeHttp1(data: Uint8Array, length: number): boolean {
  const n = Math.min(length, HTTP1_PREFIX.length);
  for (let i = 0; i < n; i++) if (data[i] !== HTTP1_PREFIX[i]) return false;
  return true;
}

/** The error for a response that does not start like HTTP/1.x, quoting its first bytes. */
export function notHttp1(where: string, data: Uint8Array, length: number): GridError {
  const start = Buffer.from(data.buffer, data.byteOffset, Math.min(length, 24)).toString('latin1');
  return protocolError(where, `not an HTTP/1.x response (it starts with ${quoteText(start, 80)})`);
}

/**
 * Where the head at the start of `data` ends: the index just past its empty line, or -1 while it has
 * none. Lines end with LF, a CR before it optional (RFC 9112 2.2 allows bare LF; some XrdHttp builds
 * send it, and curl accepts it). `from`: bytes before it were already searched (pass the previous
 * length minus 2 when more bytes arrived).
 */
export function headEnd(data: Uint8Array, from = 0): number {
  for (let i = data.indexOf(LF, from); i >= 0; i = data.indexOf(LF, i + 1)) {
    if (data[i + 1] === LF) return i + 2;
    if (data[i + 1] === CR && data[i + 2] === LF) return i + 3;
  }
  return -1;
}

/**
 * Parses a response head from the start of `data`; undefined while the head is incomplete. Refuses
 * what would let a server smuggle or inject: NUL or bare CR anywhere, whitespace before a field's
 * colon, obsolete folding before the first field, conflicting Content-Lengths, status codes outside
 * 100-599. Obsolete folding is joined with a space (RFC 9112 5.2); names are lower-cased; repeated
 * fields become arrays.
 */
export function parseHead(data: Uint8Array, where: string): ResponseHead | undefined {
  const end = headEnd(data);
  if (end < 0) {
    if (data.length > MAX_HEAD_BYTES) throw protocolError(where, `head longer than ${MAX_HEAD_BYTES} bytes`);
    return undefined;
  }
  if (end > MAX_HEAD_BYTES) throw protocolError(where, `head longer than ${MAX_HEAD_BYTES} bytes`);
  const text = Buffer.from(data.buffer, data.byteOffset, end).toString('latin1');
  if (text.includes('\0')) throw protocolError(where, 'NUL in the head');
  const lines = text.split('\n');
  // The last two entries are the empty line's and what follows its LF.
  lines.length -= 2;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const bare = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (bare.includes('\r')) throw protocolError(where, `bare CR in ${quoteText(bare, 120)}`);
    lines[i] = bare;
  }
  const status = STATUS_LINE.exec(lines[0]!);
  if (!status)
    throw protocolError(where, `status line ${quoteText(lines[0]!, 120)} (expected HTTP/1.1 or HTTP/1.0)`);
  const statusCode = Number(status[2]);
  if (statusCode < 100 || statusCode > 599)
    throw protocolError(where, `status code ${statusCode} outside 100-599`);
  const headers = parseFields(lines, where);
  return {
    statusCode,
    version: `1.${status[1]!}`,
    headers,
    contentLength: parseContentLength(headers['content-length'], where),
    length: end,
  };
}

function parseFields(lines: readonly string[], where: string): HttpHeaders {
  const headers = Object.create(null) as HttpHeaders;
  let last: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (last === undefined)
        throw protocolError(where, 'obsolete line folding before the first header field');
      const prev = headers[last]!;
      const folded = line.replace(SPACE_AROUND, '');
      const joined = (v: string) => (v === '' ? folded : folded === '' ? v : `${v} ${folded}`);
      if (Array.isArray(prev)) prev[prev.length - 1] = joined(prev[prev.length - 1]!);
      else headers[last] = joined(prev);
      continue;
    }
    const colon = line.indexOf(':');
    const name = line.slice(0, Math.max(colon, 0));
    if (colon <= 0 || !FIELD_NAME.test(name))
      throw protocolError(where, `header line ${quoteText(line, 120)} (expected name: value)`);
    const key = name.toLowerCase();
    const value = line.slice(colon + 1).replace(SPACE_AROUND, '');
    const prev = headers[key];
    headers[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
    last = key;
  }
  return headers;
}

/** A Content-Length: one decimal number, possibly repeated (RFC 9110 8.6); anything else is refused. */
function parseContentLength(field: string | string[] | undefined, where: string): number | undefined {
  if (field === undefined) return undefined;
  const values = (Array.isArray(field) ? field.join(',') : field).split(',').map((v) => v.trim());
  const numbers = new Set(values.map((v) => (/^\d{1,15}$/.test(v) ? Number(v) : Number.NaN)));
  const [only] = numbers;
  if (numbers.size !== 1 || Number.isNaN(only))
    throw protocolError(
      where,
      `Content-Length ${quoteText(values.join(', '), 80)} (expected one decimal number)`,
    );
  return only;
}

/**
 * How the body of a response to `method` with this head is delimited. Only `chunked` is accepted as a
 * transfer coding (nothing else was asked for: a gzip body would be written as is), never together
 * with Content-Length (request smuggling, RFC 9112 6.3: refused as undici does) and never in HTTP/1.0.
 */
export function bodyFraming(head: ResponseHead, method: string, where: string): BodyFraming {
  const s = head.statusCode;
  if (method === 'HEAD' || s === 204 || s === 304 || s < 200) return { kind: 'none' };
  const te = head.headers['transfer-encoding'];
  if (te !== undefined) {
    if (head.contentLength !== undefined)
      throw protocolError(where, 'both Transfer-Encoding and Content-Length');
    if (head.version === '1.0') throw protocolError(where, 'Transfer-Encoding in an HTTP/1.0 response');
    const codings = fieldList(te);
    if (codings.length !== 1 || codings[0] !== 'chunked')
      throw protocolError(
        where,
        `Transfer-Encoding ${quoteText(codings.join(', '), 80)} (only chunked is supported)`,
      );
    return { kind: 'chunked' };
  }
  if (head.contentLength !== undefined) return { kind: 'length', length: head.contentLength };
  return { kind: 'close' };
}

/** Whether the connection may carry another request after this response. */
export function keepsAlive(head: ResponseHead, framing: BodyFraming): boolean {
  const connection = fieldList(head.headers.connection);
  if (framing.kind === 'close' || connection.includes('close')) return false;
  return head.version === '1.1' || connection.includes('keep-alive');
}

function fieldList(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v.join(',') : v)
    .split(',')
    .map((x) => x.trim().toLowerCase())
    .filter((x) => x !== '');
}

type ChunkState = 'size' | 'ext' | 'size-lf' | 'data' | 'data-end' | 'data-lf' | 'trailer' | 'done';

/**
 * Decodes `Transfer-Encoding: chunked` incrementally: `push` takes any slice of the encoded stream and
 * hands the payload pieces to `onData` (views into the input, valid during the call). Sizes may have
 * leading zeros but at most 12 significant hex digits; chunk extensions are skipped (at most 16 KiB a
 * line) and so are trailer fields (at most 64 KiB), so a server cannot keep a body going without data.
 * Lines end with LF, a CR before it optional (as in heads).
 */
export class ChunkedDecoder {
  private state: ChunkState = 'size';
  private size = 0;
  private sizeDigits = 0;
  private significantDigits = 0;
  /** Bytes of the current size line, extensions included. */
  private lineBytes = 0;
  private left = 0;
  /** Characters of the current trailer line (0 at an empty line), and of the trailer section. */
  private trailerLine = 0;
  private trailerBytes = 0;

  constructor(private readonly where: string) {}

  get done(): boolean {
    return this.state === 'done';
  }

  /** Decodes `data`; returns the number of bytes used (less than all only once the body has ended). */
  push(data: Uint8Array, onData: (piece: Uint8Array) => void): number {
    let i = 0;
    while (i < data.length && this.state !== 'done') {
      if (this.state === 'data') {
        const n = Math.min(this.left, data.length - i);
        onData(data.subarray(i, i + n));
        this.left -= n;
        i += n;
        if (this.left === 0) this.state = 'data-end';
        continue;
      }
      this.step(data[i]!);
      i++;
    }
    return i;
  }

  /** One byte outside chunk data. */
  private step(c: number): void {
    switch (this.state) {
      case 'size':
        this.countLine();
        if (this.sizeDigit(c)) return;
        if (this.sizeDigits > 0 && (c === 0x3b || c === 0x20 || c === 0x09)) this.state = 'ext';
        else if (this.sizeDigits > 0 && c === CR) this.state = 'size-lf';
        else if (this.sizeDigits > 0 && c === LF) this.endSizeLine();
        else throw protocolError(this.where, 'malformed chunk size');
        return;
      case 'ext':
        this.countLine();
        if (c === CR) this.state = 'size-lf';
        else if (c === LF) this.endSizeLine();
        return;
      case 'size-lf':
        if (c !== LF) throw protocolError(this.where, 'malformed chunk size line');
        this.endSizeLine();
        return;
      case 'data-end':
        if (c === CR) this.state = 'data-lf';
        else if (c === LF) this.state = 'size';
        else throw protocolError(this.where, 'chunk longer than its size');
        return;
      case 'data-lf':
        if (c !== LF) throw protocolError(this.where, 'chunk longer than its size');
        this.state = 'size';
        return;
      case 'trailer':
        if (++this.trailerBytes > MAX_HEAD_BYTES)
          throw protocolError(this.where, `trailer section longer than ${MAX_HEAD_BYTES} bytes`);
        if (c === LF) {
          if (this.trailerLine === 0) this.state = 'done';
          this.trailerLine = 0;
        } else if (c !== CR) {
          this.trailerLine++;
        }
        return;
      case 'data':
      case 'done':
        return;
    }
  }

  /** Takes a hex digit of the size; false when `c` is not one. */
  private sizeDigit(c: number): boolean {
    const digit = hexValue(c);
    if (digit < 0) return false;
    this.sizeDigits++;
    if (this.size > 0 || digit > 0) {
      if (++this.significantDigits > MAX_CHUNK_SIZE_DIGITS)
        throw protocolError(this.where, 'chunk size too large');
      this.size = this.size * 16 + digit;
    }
    return true;
  }

  private countLine(): void {
    if (++this.lineBytes <= MAX_CHUNK_LINE_BYTES) return;
    throw protocolError(
      this.where,
      this.state === 'ext'
        ? `chunk extensions longer than ${MAX_CHUNK_LINE_BYTES} bytes`
        : `chunk size line longer than ${MAX_CHUNK_LINE_BYTES} bytes`,
    );
  }

  private endSizeLine(): void {
    this.left = this.size;
    this.state = this.size === 0 ? 'trailer' : 'data';
    this.size = 0;
    this.sizeDigits = 0;
    this.significantDigits = 0;
    this.lineBytes = 0;
    this.trailerLine = 0;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}
