import { GridError } from '../../errors/grid-error.js';

/** Response header fields by lower-case name; a repeated field gives an array. */
export type HttpHeaders = Record<string, string | string[]>;

/** A parsed response head. */
export interface ResponseHead {
  readonly statusCode: number;
  /** `1.1` or `1.0`. */
  readonly version: string;
  readonly headers: HttpHeaders;
  /** Bytes of the head, CRLF CRLF included: the body starts here. */
  readonly length: number;
}

/** How the body of a response is delimited (RFC 9112 6.3). */
export type BodyFraming =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' }
  | { readonly kind: 'close' };

/** The longest response head accepted (status line and fields). */
const MAX_HEAD_BYTES = 64 * 1024;

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** An unparseable response: the server is not speaking HTTP/1.1 properly (retried like a bad partial response). */
export function protocolError(where: string, why: string): GridError {
  return new GridError('GRID_BAD_RESPONSE', `${where}: invalid HTTP response: ${why}`, { retryable: true });
}

/**
 * Parses a response head from the start of `data`; undefined while the head is incomplete. Obsolete
 * line folding is joined, field names are lower-cased, repeated fields become arrays.
 */
export function parseHead(data: Uint8Array, where: string): ResponseHead | undefined {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const end = buf.indexOf(CRLFCRLF);
  if (end < 0) {
    if (buf.length > MAX_HEAD_BYTES) throw protocolError(where, `head longer than ${MAX_HEAD_BYTES} bytes`);
    return undefined;
  }
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const status = /^HTTP\/(1\.[01]) (\d{3})(?: .*)?$/.exec(lines[0]!);
  if (!status) throw protocolError(where, `status line ${JSON.stringify(lines[0]!.slice(0, 80))}`);
  const headers: HttpHeaders = {};
  let last: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if ((line.startsWith(' ') || line.startsWith('\t')) && last !== undefined) {
      const prev = headers[last]!;
      const joined = `${Array.isArray(prev) ? prev[prev.length - 1] : prev} ${line.trim()}`;
      if (Array.isArray(prev)) prev[prev.length - 1] = joined;
      else headers[last] = joined;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw protocolError(where, `header line ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prev = headers[name];
    headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
    last = name;
  }
  return { statusCode: Number(status[2]), version: status[1]!, headers, length: end + 4 };
}

/** How the body of a response to `method` with this head is delimited. */
export function bodyFraming(head: ResponseHead, method: string, where: string): BodyFraming {
  const s = head.statusCode;
  if (method === 'HEAD' || s === 204 || s === 304 || (s >= 100 && s < 200)) return { kind: 'none' };
  const te = fieldList(head.headers['transfer-encoding']);
  if (te.length > 0) {
    if (te[te.length - 1] === 'chunked') return { kind: 'chunked' };
    return { kind: 'close' };
  }
  const cl = head.headers['content-length'];
  if (cl !== undefined) {
    const values = new Set(fieldList(cl));
    const [only] = values;
    if (values.size !== 1 || !/^\d{1,15}$/.test(only!))
      throw protocolError(where, `Content-Length ${JSON.stringify(String(cl))}`);
    return { kind: 'length', length: Number(only) };
  }
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

/**
 * Decodes `Transfer-Encoding: chunked` incrementally: `push` takes any slice of the encoded stream and
 * hands the payload pieces to `onData` (views into the input, valid during the call). Chunk extensions
 * and trailer fields are skipped.
 */
export class ChunkedDecoder {
  private state: 'size' | 'ext' | 'size-lf' | 'data' | 'data-cr' | 'data-lf' | 'trailer' | 'done' = 'size';
  private size = 0;
  private sizeDigits = 0;
  private left = 0;
  /** Characters of the current trailer line (0 at an empty line). */
  private trailerLine = 0;

  constructor(private readonly where: string) {}

  get done(): boolean {
    return this.state === 'done';
  }

  /** Decodes `data`; returns the number of bytes used (less than all only once the body has ended). */
  push(data: Uint8Array, onData: (piece: Uint8Array) => void): number {
    let i = 0;
    while (i < data.length && this.state !== 'done') {
      const c = data[i]!;
      switch (this.state) {
        case 'size': {
          const digit = hexValue(c);
          if (digit >= 0) {
            if (++this.sizeDigits > 12) throw protocolError(this.where, 'chunk size too large');
            this.size = this.size * 16 + digit;
          } else if (this.sizeDigits > 0 && (c === 0x3b || c === 0x20 || c === 0x09)) {
            this.state = 'ext';
          } else if (this.sizeDigits > 0 && c === 0x0d) {
            this.state = 'size-lf';
          } else {
            throw protocolError(this.where, 'malformed chunk size');
          }
          i++;
          break;
        }
        case 'ext':
          if (c === 0x0d) this.state = 'size-lf';
          i++;
          break;
        case 'size-lf':
          if (c !== 0x0a) throw protocolError(this.where, 'malformed chunk size line');
          i++;
          this.left = this.size;
          this.state = this.size === 0 ? 'trailer' : 'data';
          this.size = 0;
          this.sizeDigits = 0;
          this.trailerLine = 0;
          break;
        case 'data': {
          const n = Math.min(this.left, data.length - i);
          onData(data.subarray(i, i + n));
          this.left -= n;
          i += n;
          if (this.left === 0) this.state = 'data-cr';
          break;
        }
        case 'data-cr':
          if (c !== 0x0d) throw protocolError(this.where, 'chunk longer than its size');
          this.state = 'data-lf';
          i++;
          break;
        case 'data-lf':
          if (c !== 0x0a) throw protocolError(this.where, 'chunk longer than its size');
          this.state = 'size';
          i++;
          break;
        case 'trailer':
          i++;
          if (c === 0x0a) {
            if (this.trailerLine === 0) this.state = 'done';
            this.trailerLine = 0;
          } else if (c !== 0x0d) {
            this.trailerLine++;
          }
          break;
      }
    }
    return i;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}
