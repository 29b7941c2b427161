import { connect as netConnect, type OnReadOpts, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { GridError, isGridError } from '../../errors/grid-error.js';
import type { BodySink } from './body-sink.js';
import {
  bodyFraming,
  ChunkedDecoder,
  headEnd,
  keepsAlive,
  MAX_HEAD_BYTES,
  notHttp1,
  parseHead,
  protocolError,
  startsLikeHttp1,
  type BodyFraming,
  type ResponseHead,
} from './parse.js';

/**
 * Socket reads that do not go straight into a sink land here: the head (accumulated in place, so its
 * size is bounded by this buffer), chunked bodies and the last bytes of a length-framed body.
 */
const SCRATCH_BYTES = MAX_HEAD_BYTES;
const EMPTY = Buffer.alloc(0);

/**
 * TLS alerts by which a server refuses the client certificate (or asks for one it did not get): the
 * credentials were refused, as with 401/403, not a network failure.
 */
const CERTIFICATE_REFUSED =
  /^ERR_SSL_(TLSV13_ALERT_CERTIFICATE_REQUIRED|SSLV3_ALERT_BAD_CERTIFICATE|SSLV3_ALERT_CERTIFICATE_UNKNOWN|SSLV3_ALERT_CERTIFICATE_EXPIRED|SSLV3_ALERT_CERTIFICATE_REVOKED|SSLV3_ALERT_UNSUPPORTED_CERTIFICATE|TLSV1_ALERT_UNKNOWN_CA|TLSV1_ALERT_ACCESS_DENIED)$/;

/** Where a connection goes. */
export interface ConnectionTarget {
  /** Host name or IP address (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
  /** TLS options (certificates, CAs, servername) for https; undefined for plain http. */
  readonly tls: ConnectionOptions | undefined;
  /** The origin, redacted, for messages. */
  readonly where: string;
}

/** A response head with the framing of its body, and whether the connection may carry another request. */
export interface HeadResult {
  readonly head: ResponseHead;
  readonly framing: BodyFraming;
  readonly reusable: boolean;
}

type Phase = 'connecting' | 'idle' | 'head' | 'head-done' | 'body' | 'closed';

/**
 * One HTTP/1.1 connection, one request at a time, read with Node's `onread` mode: the kernel copies
 * body bytes straight into the buffer the sink offers (`BodySink.space`), so a body costs no allocation
 * and no JavaScript object per socket read (with a default socket, Node allocates a fresh 64 KiB buffer
 * for every read, and the garbage collector then spends about as much CPU as the parsing). Heads and
 * chunked bodies go through one small scratch buffer.
 *
 * Bounded against hostile servers: the head must start like HTTP/1.x, fit the scratch buffer (all
 * interim 1xx heads together too) and arrive before a deadline (`headersMs`, not reset by bytes that
 * drip in); a body may not pause longer than `bodyMs`. Every failure is a GridError naming the origin
 * and the phase. A connection goes back to its pool only after a response that ended exactly: bytes
 * past the body's end, or any byte while no request waits, close it.
 */
export class Http1Connection {
  private readonly socket: Socket;
  private readonly scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  private phase: Phase = 'connecting';
  /** TCP is connected (a failure while still `connecting` is then the TLS handshake's). */
  private tcpConnected = false;
  /** The sink's room handed out as the next read's buffer, if it was. */
  private direct: Uint8Array | undefined;
  /** Head bytes so far, in `scratch[0, headFill)`; searched for the head's end up to `headSearched`. */
  private headFill = 0;
  private headSearched = 0;
  /** Bytes of interim (1xx) heads skipped for this request. */
  private interimBytes = 0;
  /** Body bytes that came with the head. */
  private leftover: Buffer = EMPTY;
  private method = 'GET';
  private pending: { resolve: (v: unknown) => void; reject: (e: unknown) => void } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timeoutError: (() => GridError) | undefined;
  // The body being read.
  private sink: BodySink | undefined;
  private framing: BodyFraming = { kind: 'none' };
  private remaining = 0;
  private received = 0;
  private decoder: ChunkedDecoder | undefined;
  private paused = false;
  private reusable = false;
  private bodyMs = 0;
  private closeError: unknown;
  /** Requests sent on this connection. */
  uses = 0;
  /** Called once when the connection closes, whatever the reason. */
  onClosed: (() => void) | undefined;

  private constructor(
    readonly target: ConnectionTarget,
    connectMs: number,
  ) {
    const onread: OnReadOpts = {
      buffer: () => this.nextBuffer(),
      callback: (n: number, buf: Uint8Array) => this.onRead(n, buf),
    };
    // tls.connect takes `onread` as net.connect does (Node's type declarations omit it).
    const tlsOptions: ConnectionOptions & { onread: OnReadOpts } = {
      ...target.tls,
      host: target.host,
      port: target.port,
      onread,
    };
    this.socket = target.tls
      ? tlsConnect(tlsOptions)
      : netConnect({ host: target.host, port: target.port, onread });
    this.socket.once('connect', () => (this.tcpConnected = true));
    this.socket.once(target.tls ? 'secureConnect' : 'connect', () => {
      this.disarm();
      this.phase = 'idle';
      this.settle(undefined);
    });
    this.socket.on('error', (e) => this.fail(this.socketFailure(e)));
    this.socket.on('end', () => this.onEof());
    this.socket.once('close', () => this.onClose());
    this.arm(
      connectMs,
      () =>
        new GridError(
          'GRID_CONNECT_FAILED',
          `${target.where}: no ${this.tcpConnected ? 'TLS handshake' : 'connection'} within ${connectMs} ms`,
          { retryable: true, details: { errno: 'ETIMEDOUT' } },
        ),
    );
  }

  /** Opens a connection (TCP, and TLS for https). */
  static async open(
    target: ConnectionTarget,
    connectMs: number,
    signal: AbortSignal,
  ): Promise<Http1Connection> {
    const c = new Http1Connection(target, connectMs);
    await c.wait(signal);
    return c;
  }

  get closed(): boolean {
    return this.phase === 'closed';
  }

  /**
   * Sends a request (no body) and waits for the final response head (100 and 103 heads are skipped).
   * `headersMs` bounds the whole wait, however slowly the head's bytes arrive.
   */
  async send(
    method: string,
    path: string,
    headers: Record<string, string>,
    headersMs: number,
    signal: AbortSignal,
  ): Promise<HeadResult> {
    if (this.phase === 'closed') throw this.closeError;
    if (this.phase !== 'idle') throw new Error(`request on a connection that is ${this.phase}`);
    const head = requestHead(method, path, this.target, headers);
    this.uses++;
    this.method = method;
    this.phase = 'head';
    this.headFill = 0;
    this.headSearched = 0;
    this.interimBytes = 0;
    this.socket.write(head);
    this.arm(
      headersMs,
      () =>
        new GridError(
          'GRID_STALLED',
          `${this.target.where}: the server stopped answering (no response within ${headersMs} ms)`,
          { retryable: true, details: { errno: 'HEADERS_TIMEOUT' } },
        ),
    );
    if (this.paused) this.resume();
    return (await this.wait(signal)) as HeadResult;
  }

  /**
   * Reads the body of the response `send` returned into `sink`; resolves with its length once it has
   * ended. `bodyMs` bounds the silence between two reads (not the time the sink makes the socket wait).
   */
  async readBody(sink: BodySink, bodyMs: number, signal: AbortSignal): Promise<number> {
    if (this.phase !== 'head-done') throw new Error(`body read on a connection that is ${this.phase}`);
    this.sink = sink;
    this.received = 0;
    this.bodyMs = bodyMs;
    this.phase = 'body';
    const done = this.wait(signal) as Promise<number>;
    try {
      const first = this.leftover;
      this.leftover = EMPTY;
      const wait = first.length > 0 ? this.take(first) : undefined;
      if (this.bodyEnded()) this.endBody(wait);
      else if (wait) this.pauseFor(wait);
      else this.resume();
    } catch (e) {
      this.fail(e);
    }
    return done;
  }

  /** Closes the connection at once (an unwanted body, an abort). */
  destroy(error?: unknown): void {
    if (this.phase === 'closed') return;
    this.fail(error ?? new GridError('GRID_ABORTED', `${this.target.where}: connection closed`));
  }

  // The onread mode's two callbacks.

  /**
   * The buffer the next socket read goes into (Node asks right after each read callback, so the phase
   * is the one the last read left).
   */
  private nextBuffer(): Uint8Array {
    this.direct = undefined;
    // The head accumulates in place: its bound is the buffer's end (checked in onHeadRead).
    if (this.phase === 'head') return this.scratch.subarray(this.headFill);
    if (this.phase === 'body' && !this.paused && this.sink && this.framing.kind !== 'chunked') {
      // Direct reads stop one byte short of a length-framed body's end, so the last read goes into the
      // scratch buffer, whole: bytes a server sent past the end are seen there (and the connection is
      // not reused) instead of waiting in the kernel for the next request to take them as its response.
      const max = this.framing.kind === 'length' ? this.remaining - 1 : Number.POSITIVE_INFINITY;
      const room = max > 0 ? this.sink.space(max) : undefined;
      if (room && room.length > 0) return (this.direct = room);
    }
    return this.scratch;
  }

  /** Returns false to stop reading (the socket stays paused until `resume`). */
  private onRead(n: number, buf: Uint8Array): boolean {
    try {
      switch (this.phase) {
        case 'head':
          return this.onHeadRead(n);
        case 'body':
          return this.onBodyRead(n, buf);
        case 'head-done':
          // TLS delivers what it has already decrypted even after reading was stopped: keep it for the body.
          this.leftover = Buffer.concat([this.leftover, buf.subarray(0, n)]);
          return false;
        case 'connecting':
        case 'idle':
        case 'closed':
          // Bytes nobody asked for (after a response, or while idle): the stream is out of step.
          throw protocolError(this.target.where, `${n} bytes sent while no request was waiting`);
      }
    } catch (e) {
      this.fail(e);
      return false;
    }
  }

  /** `n` more head bytes landed at `scratch[headFill]`. */
  private onHeadRead(n: number): boolean {
    const before = this.headFill;
    this.headFill += n;
    if (before < 8 && !startsLikeHttp1(this.scratch, this.headFill))
      throw notHttp1(this.target.where, this.scratch, this.headFill);
    for (;;) {
      const bytes = this.scratch.subarray(0, this.headFill);
      const end = headEnd(bytes, Math.max(0, this.headSearched - 2));
      if (end < 0) {
        this.headSearched = this.headFill;
        if (this.headFill >= SCRATCH_BYTES)
          throw protocolError(this.target.where, `head longer than ${MAX_HEAD_BYTES} bytes`);
        return true;
      }
      const head = parseHead(bytes.subarray(0, end), this.target.where)!;
      if (head.statusCode < 200) {
        this.skipInterim(head, end);
        continue;
      }
      const framing = bodyFraming(head, this.method, this.target.where);
      this.framing = framing;
      this.remaining = framing.kind === 'length' ? framing.length : 0;
      this.decoder = framing.kind === 'chunked' ? new ChunkedDecoder(this.target.where) : undefined;
      this.reusable = keepsAlive(head, framing);
      this.leftover = Buffer.from(bytes.subarray(end));
      this.headFill = 0;
      this.phase = 'head-done';
      this.disarm();
      this.paused = true;
      this.settle({ head, framing, reusable: this.reusable });
      return false;
    }
  }

  /**
   * 100 Continue, 103 Early Hints: the final response follows (all the interim heads of one request
   * together are bounded like one head). A 101 was never asked for: the server left HTTP.
   */
  private skipInterim(head: ResponseHead, end: number): void {
    const where = this.target.where;
    if (head.statusCode === 101)
      throw protocolError(where, '101 Switching Protocols, but no upgrade was asked for');
    this.interimBytes += end;
    if (this.interimBytes > MAX_HEAD_BYTES)
      throw protocolError(where, `interim (1xx) responses longer than ${MAX_HEAD_BYTES} bytes`);
    this.scratch.copyWithin(0, end, this.headFill);
    this.headFill -= end;
    this.headSearched = 0;
    if (this.headFill > 0 && !startsLikeHttp1(this.scratch, this.headFill))
      throw notHttp1(where, this.scratch, this.headFill);
  }

  private onBodyRead(n: number, buf: Uint8Array): boolean {
    // The body timeout bounds the silence between reads (the head's is a deadline).
    this.timer?.refresh();
    let wait: Promise<void> | undefined;
    if (this.direct !== undefined && buf === this.direct) {
      this.direct = undefined;
      this.received += n;
      if (this.framing.kind === 'length') this.remaining -= n;
      wait = this.sink!.commit(n);
    } else {
      wait = this.take(buf.subarray(0, n));
    }
    if (this.bodyEnded()) {
      this.endBody(wait);
      return this.phase === 'idle';
    }
    if (wait) {
      this.pauseFor(wait);
      return false;
    }
    return true;
  }

  /** Hands body bytes that were not read into the sink's room to the sink (a copy). */
  private take(data: Uint8Array): Promise<void> | undefined {
    const sink = this.sink!;
    if (this.framing.kind === 'none') {
      // A body where none may be (HEAD, 204, 304): the stream is out of step, the connection not reused.
      if (data.length > 0) this.reusable = false;
      return undefined;
    }
    if (this.framing.kind === 'chunked') {
      const waits: Promise<void>[] = [];
      const used = this.decoder!.push(data, (piece) => {
        this.received += piece.length;
        const w = sink.write(piece);
        if (w) waits.push(w);
      });
      if (used < data.length) this.reusable = false;
      return waits.length === 0 ? undefined : Promise.all(waits).then(() => undefined);
    }
    if (this.framing.kind === 'length' && data.length > this.remaining) {
      // More than Content-Length: the rest belongs to no response, so the connection is not reused.
      this.reusable = false;
      data = data.subarray(0, this.remaining);
    }
    this.received += data.length;
    if (this.framing.kind === 'length') this.remaining -= data.length;
    return data.length > 0 ? sink.write(data) : undefined;
  }

  private bodyEnded(): boolean {
    switch (this.framing.kind) {
      case 'none':
        return true;
      case 'length':
        return this.remaining === 0;
      case 'chunked':
        return this.decoder!.done;
      case 'close':
        return false;
    }
  }

  /**
   * The body has ended. A wait the sink asked for with the last bytes no longer matters to the socket;
   * its failure, if any, is the sink's to report (it records its own), so it is only observed here.
   */
  private endBody(wait?: Promise<void>): void {
    wait?.catch(() => undefined);
    this.disarm();
    this.sink = undefined;
    const received = this.received;
    if (this.reusable) {
      this.phase = 'idle';
      // Keep reading while idle: a close by the server (or stray bytes) is noticed at once.
      if (this.paused) this.resume();
    } else {
      this.phase = 'closed';
      this.socket.destroy();
    }
    this.settle(received);
  }

  private pauseFor(wait: Promise<void>): void {
    this.paused = true;
    this.disarm();
    wait.then(
      () => {
        if (this.phase === 'body') this.resume();
      },
      (e: unknown) => this.fail(e),
    );
  }

  private resume(): void {
    this.paused = false;
    if (this.phase === 'body') this.armBody();
    this.socket.resume();
  }

  private armBody(): void {
    const ms = this.bodyMs;
    this.arm(
      ms,
      () =>
        new GridError(
          'GRID_STALLED',
          `${this.target.where}: the server stopped sending (no body bytes for ${ms} ms)`,
          { retryable: true, details: { errno: 'BODY_TIMEOUT' } },
        ),
    );
  }

  private onEof(): void {
    if (this.phase === 'body' && this.framing.kind === 'close') {
      this.reusable = false;
      this.endBody();
      return;
    }
    this.fail(
      new GridError(
        'GRID_CONNECTION_LOST',
        `${this.target.where}: connection closed by the server ${this.progress()}`.trim(),
        { retryable: true, details: { errno: 'ECONNRESET' } },
      ),
    );
  }

  /** Where the exchange stood, for messages. */
  private progress(): string {
    switch (this.phase) {
      case 'body':
        return `after ${this.received} body bytes${this.framing.kind === 'length' ? ` (${this.remaining} missing)` : ''}`;
      case 'head':
        return this.headFill > 0 ? `in the middle of the response head` : 'before a response';
      case 'head-done':
        return 'after the response head';
      case 'connecting':
      case 'idle':
      case 'closed':
        return '';
    }
  }

  /**
   * A socket error as a GridError: refused during connect or the TLS handshake (`GRID_CONNECT_FAILED`:
   * another replica may work), a client certificate refused (`GRID_UNAUTHORIZED`, as 401/403), or the
   * connection lost afterwards (`GRID_CONNECTION_LOST`: retried, resuming). Node's code stays in
   * `details.errno`.
   */
  private socketFailure(e: Error & { code?: string }): GridError {
    if (isGridError(e)) return e;
    const code = e.code ?? 'EIO';
    const where = this.target.where;
    const options = { cause: e, details: { errno: code } };
    if (CERTIFICATE_REFUSED.test(code)) {
      const cert = this.target.tls?.cert !== undefined || this.target.tls?.pfx !== undefined;
      return new GridError(
        'GRID_UNAUTHORIZED',
        `${where}: the server refused the TLS connection${cert ? ' with this client certificate' : ' without a client certificate'} (${code})`,
        { ...options, retryable: false },
      );
    }
    if (this.phase === 'connecting') {
      const what = this.tcpConnected
        ? `TLS handshake failed (${code}: ${e.message})`
        : `cannot connect (${code})`;
      return new GridError('GRID_CONNECT_FAILED', `${where}: ${what}`, { ...options, retryable: true });
    }
    const how = code === 'ECONNRESET' ? 'reset by the server' : `lost (${code})`;
    return new GridError('GRID_CONNECTION_LOST', `${where}: connection ${how} ${this.progress()}`.trim(), {
      ...options,
      retryable: true,
    });
  }

  private onClose(): void {
    this.fail(
      this.closeError ??
        new GridError('GRID_CONNECTION_LOST', `${this.target.where}: connection closed`, {
          retryable: true,
          details: { errno: 'ECONNRESET' },
        }),
    );
  }

  /** Closes the connection and rejects the operation in progress (once). */
  private fail(error: unknown): void {
    this.closeError ??= error;
    const wasOpen = this.phase !== 'closed';
    this.phase = 'closed';
    this.disarm();
    this.sink = undefined;
    if (wasOpen) {
      this.socket.destroy();
      this.onClosed?.();
    }
    const p = this.pending;
    this.pending = undefined;
    p?.reject(error);
  }

  private settle(value: unknown): void {
    const p = this.pending;
    this.pending = undefined;
    p?.resolve(value);
  }

  /** The result of the operation in progress; an abort of `signal` closes the connection. */
  private async wait(signal: AbortSignal): Promise<unknown> {
    if (this.phase === 'closed') throw this.closeError;
    const result = new Promise((resolve, reject) => (this.pending = { resolve, reject }));
    const onAbort = () => this.fail(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await result;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private arm(ms: number, error: () => GridError): void {
    this.disarm();
    if (!(ms > 0)) return;
    this.timeoutError = error;
    this.timer = setTimeout(() => this.fail(this.timeoutError!()), ms);
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** A field name (RFC 9110 token) and a value without CR, LF or NUL: nothing can be injected. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[^\r\n\0]*$/;
/** A request target: visible ASCII only (a URL's serialisation percent-encodes the rest). */
const REQUEST_TARGET = /^[\x21-\x7e]+$/;

function requestHead(
  method: string,
  path: string,
  target: ConnectionTarget,
  headers: Record<string, string>,
): string {
  if (!REQUEST_TARGET.test(path))
    throw new GridError('GRID_INPUT_INVALID', `request target ${JSON.stringify(path)} is not valid HTTP`);
  const defaultPort = target.tls ? 443 : 80;
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  let head = `${method} ${path} HTTP/1.1\r\nHost: ${host}${target.port === defaultPort ? '' : `:${target.port}`}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value))
      throw new GridError('GRID_INPUT_INVALID', `request header ${JSON.stringify(name)} is not valid HTTP`);
    if (name.toLowerCase() === 'host') continue;
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}
