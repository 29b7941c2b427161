import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { TlsCredentials } from '../../credentials/client-cert.js';
import { quoteText } from '@beamline/core';
import { GridError, isGridError } from '../../errors/grid-error.js';
import { redactUrl } from '../http-headers.js';
import { discardSink, type BodySink } from './body-sink.js';
import { Http1Connection, type ConnectionTarget } from './connection.js';
import type { BodyFraming, HttpHeaders } from './parse.js';

/** Settings of an {@link Http1Client}. */
export interface HttpClientOptions {
  /** Connections per origin at once; more requests wait for one. */
  readonly connectionsPerHost: number;
  readonly tls?: TlsCredentials;
  /** TCP + TLS connect timeout (ms). */
  readonly connectTimeoutMs: number;
  /** Time to the response head (ms). */
  readonly headersTimeoutMs: number;
  /** Longest silence inside a body (ms). */
  readonly bodyTimeoutMs: number;
  /** How long an idle connection is kept for the next request (ms). Default 10 000. */
  readonly keepAliveTimeoutMs?: number;
  /** Redirects followed; one more fails the request (`GRID_HTTP_STATUS`, not retryable). Default 5. */
  readonly maxRedirections?: number;
}

/** One request (no request body: GET and HEAD are all a download needs). */
export interface HttpRequest {
  readonly url: string;
  readonly method: 'GET' | 'HEAD';
  /** Sent as written (case kept: old XrdHttp matches `Range` case-sensitively). */
  readonly headers: Record<string, string>;
  /** Aborting closes the connection and rejects with the signal's reason. */
  readonly signal: AbortSignal;
}

/** A response; its body must be consumed (`pipeTo`, `dump`) or `destroy`ed, which frees the connection. */
export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: HttpHeaders;
  /**
   * The Content-Length (validated: one decimal value, however often repeated); on a HEAD the size of
   * the resource, on a chunked or close-delimited body undefined.
   */
  readonly contentLength: number | undefined;
  readonly body: ResponseBody;
}

/** The body of a response, read once. */
export interface ResponseBody {
  /** Reads the body into `sink`; resolves with its length when it has ended. */
  pipeTo(sink: BodySink): Promise<number>;
  /** Reads and drops a short body (the connection is reused); closes the connection on a long one. */
  dump(): Promise<void>;
  /** Drops the body by closing its connection (no effect once the body was read). */
  destroy(): void;
}

/** Bodies up to this long are read and dropped by `dump` so the connection can be reused. */
const DUMP_LIMIT = 256 * 1024;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Request fields that carry credentials: never sent past a redirect to another origin. */
const CREDENTIAL_FIELDS = new Set(['authorization', 'proxy-authorization', 'cookie']);

/**
 * A small HTTP/1.1 client for downloads: keep-alive connections per origin (at most
 * `connectionsPerHost`), TLS with client certificates, redirects followed, bounded connect / head /
 * body waits, and bodies read straight into the caller's buffers (see {@link Http1Connection}).
 * Request header names keep their case.
 *
 * Redirects (301, 302, 303, 307, 308) keep the method (a HEAD stays a HEAD, as RFC 9110 allows for
 * 303) and the fields, go only to http(s), and at most `maxRedirections` deep. Credentials go only to
 * the request's own origin: once a redirect leaves it, `Authorization` (and cookies) are dropped and
 * TLS connections are made without the client certificate, for the rest of the chain (curl drops
 * credentials the same way; an https to http redirect changes the origin too).
 */
export class Http1Client {
  private readonly origins = new Map<string, OriginPool>();
  private closed = false;

  constructor(private readonly options: HttpClientOptions) {}

  /** Sends a request, following redirects. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    const origin = new URL(req.url).origin;
    const max = this.options.maxRedirections ?? 5;
    let url = req.url;
    let headers = req.headers;
    let credentials = true;
    for (let hop = 0; ; hop++) {
      const res = await this.once(url, req.method, headers, credentials, req.signal);
      const location = res.headers.location;
      if (!REDIRECTS.has(res.statusCode) || typeof location !== 'string') return res;
      await res.body.dump();
      const next = redirectTarget(location, url);
      if (hop >= max) {
        throw new GridError(
          'GRID_HTTP_STATUS',
          `${redactUrl(req.url)}: more than ${max} redirects (the last one to ${redactUrl(next.href)})`,
          { retryable: false, details: { status: res.statusCode } },
        );
      }
      if (credentials && next.origin !== origin) {
        credentials = false;
        headers = Object.fromEntries(
          Object.entries(headers).filter(([k]) => !CREDENTIAL_FIELDS.has(k.toLowerCase())),
        );
      }
      url = next.href;
    }
  }

  /** Stops reusing connections; idle ones are closed, busy ones when their response ends. */
  close(): Promise<void> {
    this.closed = true;
    for (const pool of this.origins.values()) pool.closeIdle();
    return Promise.resolve();
  }

  /** Closes every connection at once (the abort path). */
  destroy(): Promise<void> {
    this.closed = true;
    for (const pool of this.origins.values()) pool.destroyAll();
    return Promise.resolve();
  }

  /**
   * One request on one connection (with the client certificate when `credentials`); a kept-alive
   * connection the server closed meanwhile is replaced once.
   */
  private async once(
    url: string,
    method: 'GET' | 'HEAD',
    headers: Record<string, string>,
    credentials: boolean,
    signal: AbortSignal,
  ): Promise<HttpResponse> {
    const u = new URL(url);
    const pool = this.pool(u);
    const target = credentials ? pool.target : pool.anonymous;
    for (let attempt = 0; ; attempt++) {
      const conn = await pool.acquire(target, signal);
      const reused = conn.uses > 0;
      let sent;
      try {
        sent = await conn.send(
          method,
          `${u.pathname}${u.search}`,
          headers,
          this.options.headersTimeoutMs,
          signal,
        );
      } catch (e) {
        pool.release(conn, false);
        if (reused && attempt === 0 && !signal.aborted && staleConnection(e)) continue;
        throw e;
      }
      const { head, framing, reusable } = sent;
      return {
        statusCode: head.statusCode,
        headers: head.headers,
        contentLength: head.contentLength,
        body: new ConnectionBody(conn, framing, signal, this.options.bodyTimeoutMs, (ok) =>
          pool.release(conn, ok && reusable && !this.closed),
        ),
      };
    }
  }

  private pool(u: URL): OriginPool {
    const secure = u.protocol === 'https:';
    const port = Number(u.port || (secure ? 443 : 80));
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    const key = `${u.protocol}//${host}:${port}`;
    let pool = this.origins.get(key);
    if (!pool) {
      const where = redactUrl(`${u.protocol}//${u.host}/`);
      const target: ConnectionTarget = {
        host,
        port,
        tls: secure ? tlsOptions(host, this.options.tls) : undefined,
        where,
      };
      const tls = this.options.tls;
      const hasCert = tls?.pfx !== undefined || tls?.cert !== undefined;
      const anonymous: ConnectionTarget =
        secure && hasCert ? { ...target, tls: tlsOptions(host, tls.ca && { ca: tls.ca }) } : target;
      pool = new OriginPool(target, anonymous, this.options);
      this.origins.set(key, pool);
    }
    return pool;
  }
}

/** Where a redirect goes: an http(s) URL, else a GridError (never a `file:`, `ftp:` or `root:` URL). */
function redirectTarget(location: string, base: string): URL {
  let next: URL;
  try {
    next = new URL(location, base);
  } catch {
    throw new GridError(
      'GRID_BAD_RESPONSE',
      `${redactUrl(base)}: redirect to an invalid URL ${quoteText(location, 120)}`,
      { retryable: true },
    );
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new GridError(
      'GRID_UNSUPPORTED_SCHEME',
      `${redactUrl(base)}: redirect to ${redactUrl(next.href)} not followed (only http and https are)`,
      { retryable: false },
    );
  }
  return next;
}

/** An error that means the server had closed a kept-alive connection before the request reached it. */
function staleConnection(e: unknown): boolean {
  const code = isGridError(e) ? (e.details.errno as string | undefined) : (e as { code?: string }).code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

function tlsOptions(host: string, tls: TlsCredentials | undefined): ConnectionOptions {
  return {
    ...(isIP(host) === 0 && { servername: host }),
    ALPNProtocols: ['http/1.1'],
    ...(tls?.pfx && { pfx: tls.pfx }),
    ...(tls?.cert && { cert: tls.cert }),
    ...(tls?.key && { key: tls.key }),
    ...(tls?.passphrase !== undefined && { passphrase: tls.passphrase }),
    ...(tls?.ca && { ca: tls.ca }),
  };
}

class ConnectionBody implements ResponseBody {
  private used = false;

  constructor(
    private readonly conn: Http1Connection,
    private readonly framing: BodyFraming,
    private readonly signal: AbortSignal,
    private readonly bodyMs: number,
    private readonly release: (reusable: boolean) => void,
  ) {}

  async pipeTo(sink: BodySink): Promise<number> {
    if (this.used) throw new Error('the response body was already read');
    this.used = true;
    try {
      const n = await this.conn.readBody(sink, this.bodyMs, this.signal);
      this.release(true);
      return n;
    } catch (e) {
      this.release(false);
      throw e;
    }
  }

  async dump(): Promise<void> {
    if (this.used) return;
    const short =
      this.framing.kind === 'none' || (this.framing.kind === 'length' && this.framing.length <= DUMP_LIMIT);
    if (!short) return this.destroy();
    await this.pipeTo(discardSink).catch(() => undefined);
  }

  destroy(): void {
    if (this.used) return;
    this.used = true;
    this.conn.destroy();
    this.release(false);
  }
}

/** An idle connection and the timer that closes it if it stays unused. */
interface IdleConnection {
  readonly conn: Http1Connection;
  readonly timer: NodeJS.Timeout;
}

/**
 * The connections to one origin: idle ones kept for reuse, at most `connectionsPerHost` in all, made
 * with the client certificate (`target`) or without it (`anonymous`, for redirects from elsewhere).
 */
class OriginPool {
  private readonly idle: IdleConnection[] = [];
  private readonly all = new Set<Http1Connection>();
  private opening = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(
    readonly target: ConnectionTarget,
    readonly anonymous: ConnectionTarget,
    private readonly options: HttpClientOptions,
  ) {}

  async acquire(target: ConnectionTarget, signal: AbortSignal): Promise<Http1Connection> {
    for (;;) {
      signal.throwIfAborted();
      const reused = this.takeIdle(target);
      if (reused) return reused;
      if (this.all.size + this.opening < Math.max(1, this.options.connectionsPerHost)) {
        this.opening++;
        try {
          const conn = await Http1Connection.open(target, this.options.connectTimeoutMs, signal);
          this.all.add(conn);
          return conn;
        } finally {
          this.opening--;
          this.wake();
        }
      }
      // The slots are held by idle connections made with the other credentials: close one.
      const other = this.idle[0];
      if (other) {
        other.conn.destroy();
        this.forget(other.conn);
      } else {
        await this.slot(signal);
      }
    }
  }

  /** Gives a connection back: kept idle when reusable, else closed; a waiting request gets the slot. */
  release(conn: Http1Connection, reusable: boolean): void {
    if (reusable && !conn.closed) {
      const timer = setTimeout(() => conn.destroy(), this.options.keepAliveTimeoutMs ?? 10_000);
      timer.unref();
      conn.onClosed = () => {
        this.forget(conn);
        this.wake();
      };
      this.idle.push({ conn, timer });
    } else {
      conn.destroy();
      this.all.delete(conn);
    }
    this.wake();
  }

  closeIdle(): void {
    for (const { conn } of [...this.idle]) conn.destroy();
  }

  destroyAll(): void {
    for (const c of this.all) c.destroy();
    for (const { timer } of this.idle.splice(0)) clearTimeout(timer);
    this.all.clear();
    this.wake();
  }

  /** The most recently used idle connection made for `target`, taken out of the idle list. */
  private takeIdle(target: ConnectionTarget): Http1Connection | undefined {
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const { conn, timer } = this.idle[i]!;
      if (conn.target !== target) continue;
      this.idle.splice(i, 1);
      // Its idle timer must not close it while it serves this request.
      clearTimeout(timer);
      conn.onClosed = undefined;
      if (!conn.closed) return conn;
      this.all.delete(conn);
    }
    return undefined;
  }

  /** A connection closed while idle. */
  private forget(conn: Http1Connection): void {
    this.all.delete(conn);
    const i = this.idle.findIndex((x) => x.conn === conn);
    if (i >= 0) {
      clearTimeout(this.idle[i]!.timer);
      this.idle.splice(i, 1);
    }
  }

  private wake(): void {
    this.waiters.shift()?.();
  }

  private slot(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiters.indexOf(go);
        if (i >= 0) this.waiters.splice(i, 1);
        // The abort's own reason, as for every other wait of a request.
        reject(signal.reason as Error);
      };
      const go = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      this.waiters.push(go);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
