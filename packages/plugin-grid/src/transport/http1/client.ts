import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { TlsCredentials } from '../../credentials/client-cert.js';
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
  /** Redirects followed (the last 3xx is returned beyond). Default 5. */
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

/**
 * A small HTTP/1.1 client for downloads: keep-alive connections per origin (at most
 * `connectionsPerHost`), TLS with client certificates, redirects followed (Authorization dropped when
 * the origin changes), bounded connect / head / body waits, and bodies read straight into the
 * caller's buffers (see {@link Http1Connection}). Request header names keep their case.
 */
export class Http1Client {
  private readonly origins = new Map<string, OriginPool>();
  private closed = false;

  constructor(private readonly options: HttpClientOptions) {}

  /** Sends a request, following redirects. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    let url = req.url;
    let headers = req.headers;
    for (let hop = 0; ; hop++) {
      const res = await this.once(url, req.method, headers, req.signal);
      const location = res.headers.location;
      if (!REDIRECTS.has(res.statusCode) || typeof location !== 'string') return res;
      if (hop >= (this.options.maxRedirections ?? 5)) return res;
      await res.body.dump();
      const next = new URL(location, url);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new GridError(
          'GRID_BAD_RESPONSE',
          `${redactUrl(url)}: redirected to an unsupported URL ${redactUrl(next.href)}`,
          { retryable: true },
        );
      }
      // Credentials meant for one origin are not handed to another (as browsers do).
      if (next.origin !== new URL(url).origin)
        headers = Object.fromEntries(
          Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'),
        );
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

  /** One request on one connection; a kept-alive connection the server closed meanwhile is replaced once. */
  private async once(
    url: string,
    method: 'GET' | 'HEAD',
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<HttpResponse> {
    const u = new URL(url);
    const pool = this.pool(u);
    for (let attempt = 0; ; attempt++) {
      const conn = await pool.acquire(signal);
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
      const target: ConnectionTarget = {
        host,
        port,
        tls: secure ? tlsOptions(host, this.options.tls) : undefined,
        where: redactUrl(`${u.protocol}//${u.host}/`),
      };
      pool = new OriginPool(target, this.options);
      this.origins.set(key, pool);
    }
    return pool;
  }
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

/** The connections to one origin: idle ones kept for reuse, at most `connectionsPerHost` in all. */
class OriginPool {
  private readonly idle: Http1Connection[] = [];
  private readonly all = new Set<Http1Connection>();
  private opening = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(
    private readonly target: ConnectionTarget,
    private readonly options: HttpClientOptions,
  ) {}

  async acquire(signal: AbortSignal): Promise<Http1Connection> {
    for (;;) {
      signal.throwIfAborted();
      const idle = this.idle.pop();
      if (idle) {
        idle.onClosed = undefined;
        if (!idle.closed) return idle;
        this.all.delete(idle);
        continue;
      }
      if (this.all.size + this.opening < Math.max(1, this.options.connectionsPerHost)) {
        this.opening++;
        try {
          const conn = await Http1Connection.open(this.target, this.options.connectTimeoutMs, signal);
          this.all.add(conn);
          return conn;
        } finally {
          this.opening--;
          this.wake();
        }
      }
      await this.slot(signal);
    }
  }

  /** Gives a connection back: kept idle when reusable, else closed; a waiting request gets the slot. */
  release(conn: Http1Connection, reusable: boolean): void {
    if (reusable && !conn.closed) {
      const timer = setTimeout(() => conn.destroy(), this.options.keepAliveTimeoutMs ?? 10_000);
      timer.unref();
      conn.onClosed = () => {
        clearTimeout(timer);
        this.all.delete(conn);
        const i = this.idle.indexOf(conn);
        if (i >= 0) this.idle.splice(i, 1);
        this.wake();
      };
      this.idle.push(conn);
    } else {
      conn.destroy();
      this.all.delete(conn);
    }
    this.wake();
  }

  closeIdle(): void {
    for (const c of this.idle.splice(0)) c.destroy();
  }

  destroyAll(): void {
    for (const c of this.all) c.destroy();
    this.idle.length = 0;
    this.all.clear();
    this.wake();
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
