import { connect as netConnect, type OnReadOpts, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { GridError } from '../../errors/grid-error.js';
import type { BodySink } from './body-sink.js';
import {
  bodyFraming,
  ChunkedDecoder,
  keepsAlive,
  parseHead,
  protocolError,
  type BodyFraming,
  type ResponseHead,
} from './parse.js';

/** Socket reads that do not go straight into a sink (the head, chunked bodies) land here. */
const SCRATCH_BYTES = 64 * 1024;

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

/** A response head with the framing of its body; `leftover` holds the body bytes read with the head. */
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
 */
export class Http1Connection {
  private readonly socket: Socket;
  private readonly scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  private phase: Phase = 'connecting';
  /** The sink's room handed out as the next read's buffer, if it was. */
  private direct: Uint8Array | undefined;
  private headBytes: Buffer = Buffer.alloc(0);
  private leftover: Buffer = Buffer.alloc(0);
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
    this.socket.once(target.tls ? 'secureConnect' : 'connect', () => {
      this.disarm();
      this.phase = 'idle';
      this.settle(undefined);
    });
    this.socket.on('error', (e) => this.fail(e));
    this.socket.on('end', () => this.onEof());
    this.socket.once('close', () => this.onClose());
    this.arm(
      connectMs,
      () =>
        new GridError('GRID_CONNECT_FAILED', `${target.where}: no connection within ${connectMs} ms`, {
          retryable: true,
          details: { errno: 'ETIMEDOUT' },
        }),
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

  /** Sends a request (no body) and waits for the final response head (1xx heads are skipped). */
  async send(
    method: string,
    path: string,
    headers: Record<string, string>,
    headersMs: number,
    signal: AbortSignal,
  ): Promise<HeadResult> {
    if (this.phase !== 'idle') throw new Error(`request on a connection that is ${this.phase}`);
    this.uses++;
    this.method = method;
    this.phase = 'head';
    this.headBytes = Buffer.alloc(0);
    this.socket.write(requestHead(method, path, this.target, headers));
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
      this.leftover = Buffer.alloc(0);
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

  /** The buffer the next socket read goes into. */
  private nextBuffer(): Uint8Array {
    this.direct = undefined;
    if (this.phase === 'body' && !this.paused && this.sink && this.framing.kind !== 'chunked') {
      const max = this.framing.kind === 'length' ? this.remaining : Number.POSITIVE_INFINITY;
      const room = max > 0 ? this.sink.space(max) : undefined;
      if (room && room.length > 0) return (this.direct = room);
    }
    // A length-framed body never reads past its end, so nothing of a next response is ever consumed.
    if (this.phase === 'body' && this.framing.kind === 'length' && this.remaining > 0)
      return this.scratch.subarray(0, Math.min(SCRATCH_BYTES, this.remaining));
    return this.scratch;
  }

  /** Returns false to stop reading (the socket stays paused until `resume`). */
  private onRead(n: number, buf: Uint8Array): boolean {
    try {
      if (this.timer) this.timer.refresh();
      switch (this.phase) {
        case 'head':
          return this.onHeadRead(buf.subarray(0, n));
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
          throw protocolError(this.target.where, `${n} unexpected bytes on an idle connection`);
      }
    } catch (e) {
      this.fail(e);
      return false;
    }
  }

  private onHeadRead(data: Uint8Array): boolean {
    this.headBytes = Buffer.concat([this.headBytes, data]);
    for (;;) {
      const head = parseHead(this.headBytes, this.target.where);
      if (!head) return true;
      if (head.statusCode >= 100 && head.statusCode < 200) {
        // 100 Continue, 103 Early Hints: the final response follows.
        this.headBytes = this.headBytes.subarray(head.length);
        continue;
      }
      const framing = bodyFraming(head, this.method, this.target.where);
      this.framing = framing;
      this.remaining = framing.kind === 'length' ? framing.length : 0;
      this.decoder = framing.kind === 'chunked' ? new ChunkedDecoder(this.target.where) : undefined;
      this.reusable = keepsAlive(head, framing);
      this.leftover = Buffer.from(this.headBytes.subarray(head.length));
      this.headBytes = Buffer.alloc(0);
      this.phase = 'head-done';
      this.disarm();
      this.paused = true;
      this.settle({ head, framing, reusable: this.reusable });
      return false;
    }
  }

  private onBodyRead(n: number, buf: Uint8Array): boolean {
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
    const what =
      this.phase === 'body'
        ? `after ${this.received} body bytes${this.framing.kind === 'length' ? ` (${this.remaining} missing)` : ''}`
        : this.phase === 'head'
          ? 'before a response'
          : '';
    this.fail(
      new GridError(
        'GRID_CONNECTION_LOST',
        `${this.target.where}: connection closed by the server ${what}`.trim(),
        {
          retryable: true,
          details: { errno: 'ECONNRESET' },
        },
      ),
    );
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

function requestHead(
  method: string,
  path: string,
  target: ConnectionTarget,
  headers: Record<string, string>,
): string {
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
