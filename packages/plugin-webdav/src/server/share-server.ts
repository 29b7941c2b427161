import { readFileSync } from 'node:fs';
import { realpath, stat, unlink } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { EventEmitter } from 'eventemitter3';
import { Observable } from 'rxjs';
import { ShareFs } from '../access/share-fs.js';
import { Authenticator } from '../auth/authenticator.js';
import { ruleAllows, type AuthenticatedPrincipal } from '../auth/principal.js';
import type { ShareConfig } from '../config/share-config.js';
import { createEngine } from '../engine/engine.js';
import { WebdavError } from '../errors/webdav-error.js';
import { HttpError, isHttpError } from '../http/http-error.js';
import { parseIfHeader, submittedTokens } from '../http/if-header.js';
import { parseRequestPath, type RequestPath } from '../http/request-path.js';
import { handleCopyMove, handleDelete, handleMkcol } from '../methods/engine-methods.js';
import { handleGet } from '../methods/get.js';
import { handleLock, handleUnlock } from '../methods/lock.js';
import { handleProppatch } from '../methods/proppatch.js';
import { handlePropfind } from '../methods/propfind.js';
import { handlePut } from '../methods/put.js';
import { hasBody, sendError } from '../methods/respond.js';
import { handleVirtual } from '../methods/virtual.js';
import { LockManager } from '../state/lock-manager.js';
import { StateDb } from '../state/state-db.js';
import { AccessLogFile, type AccessEvent } from './access-log.js';
import { isTempName } from './atomic-file.js';
import { route } from './routing.js';
import { denied, type Scope, type ServerCore, type ShareRuntime } from './scope.js';
import { UsageTracker } from './usage-tracker.js';

/** Something the server reports beside the access log: a request that threw, a leftover it could not remove. */
export interface ShareWarning {
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

/** Events of a {@link ShareServer}. */
export interface ShareServerEvents {
  access: (event: AccessEvent) => void;
  warning: (warning: ShareWarning) => void;
}

/** Options of {@link ShareServer.handle} when the server is mounted under another application. */
export interface HandleOptions {
  /** URL path segments the host application mounted the shares under (Express's `req.baseUrl`). */
  readonly base?: readonly string[];
}

/** Options of {@link ShareServer.open}. */
export interface OpenOptions {
  /** The clock (tests). */
  readonly now?: () => number;
  /**
   * The server is one worker process of a cluster ({@link ShareCluster}): leftovers of crashed uploads
   * are the primary's to remove (another worker may be writing them now), and so is the access log file
   * (the worker's access events are sent to the primary). Default false.
   */
  readonly worker?: boolean;
}

/** Options of {@link ShareServer.listen}. */
export interface ListenOptions {
  readonly host?: string;
  readonly port?: number;
  /** PEM certificate and key files: serve `https`. */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Headers added to every response (a cluster worker's `X-Beamline-Worker`). */
  readonly responseHeaders?: Readonly<Record<string, string>>;
}

/** What the access event of a request reports, filled in while it is handled. */
interface Seen {
  principal: AuthenticatedPrincipal | undefined;
  reason: string | undefined;
}

/** Largest body of a refused request that is read and dropped instead of closing the connection. */
const DRAIN_REFUSED_BODY = 16 * 1024 * 1024;

type Access = 'read' | 'write';

const METHOD_ACCESS: Readonly<Record<string, Access>> = {
  GET: 'read',
  HEAD: 'read',
  OPTIONS: 'read',
  PROPFIND: 'read',
  COPY: 'read',
  PUT: 'write',
  DELETE: 'write',
  MKCOL: 'write',
  MOVE: 'write',
  PROPPATCH: 'write',
  LOCK: 'write',
  UNLOCK: 'write',
};
const ALLOW = 'OPTIONS, GET, HEAD, PROPFIND, PUT, DELETE, MKCOL, COPY, MOVE, PROPPATCH, LOCK, UNLOCK';
const ALLOW_READ = 'OPTIONS, GET, HEAD, PROPFIND';

/** The lock tokens of a request that submitted none (shared: a `ReadonlySet` nobody adds to). */
const NO_TOKENS: ReadonlySet<string> = new Set<string>();

/** Upper-case method, without a new string for the methods clients send (already upper-case). */
function methodOf(method: string | undefined): string {
  if (method === undefined) return '';
  return Object.hasOwn(METHOD_ACCESS, method) ? method : method.toUpperCase();
}

/** Whether `segments` begins with `prefix`. */
function startsWith(segments: readonly string[], prefix: readonly string[]): boolean {
  if (prefix.length > segments.length) return false;
  for (let index = 0; index < prefix.length; index += 1) if (segments[index] !== prefix[index]) return false;
  return true;
}

/**
 * The path an access event or a warning reports: the decoded path once it was parsed, else the raw
 * one (without the query, at most 300 characters). Built only when one is reported.
 */
function pathSeen(url: string, parsed: RequestPath | undefined): string {
  if (parsed) return `/${parsed.segments.join('/')}${parsed.trailingSlash ? '/' : ''}`;
  return (url.split('?')[0] ?? '').slice(0, 300);
}

/** Maps a file-system error that escaped a handler to an HTTP answer; undefined for a real failure. */
function errnoStatus(error: unknown): HttpError | undefined {
  switch ((error as NodeJS.ErrnoException).code ?? '') {
    case 'ENOENT':
      return new HttpError(404, 'not found');
    case 'ENOTDIR':
    case 'EEXIST':
    case 'ENOTEMPTY':
      return new HttpError(409, 'conflict with the current state of the resource');
    case 'EACCES':
    case 'EPERM':
    case 'ELOOP':
    case 'EROFS':
      return new HttpError(403, 'the server may not do this');
    case 'ENOSPC':
    case 'EDQUOT':
      return new HttpError(507, 'the disk is full');
    case 'ENAMETOOLONG':
      return new HttpError(414, 'name too long');
    default:
      return undefined;
  }
}

/**
 * The WebDAV share server: the guard, authentication and rules in front of webdav-server, and the
 * methods the engine lacks. Use it stand-alone (`listen`), or mounted under any Node `http` server,
 * Express or Fastify (`handle`, and the helpers in `mount.ts`). Create with {@link ShareServer.open}.
 */
export class ShareServer {
  /** Access events and warnings, as a typed emitter. */
  readonly events = new EventEmitter<ShareServerEvents>();
  /** Access events as an Observable (hot: those after subscription). */
  readonly access$: Observable<AccessEvent>;
  private readonly core: ServerCore;
  private readonly accessLog: AccessLogFile | undefined;
  private readonly servers = new Set<Server>();
  private closed = false;

  private constructor(
    core: ServerCore,
    accessLog: AccessLogFile | undefined,
    /** Warnings of `open` (leftover uploads that could not be removed), before anyone could listen. */
    readonly startupWarnings: readonly ShareWarning[],
  ) {
    this.core = core;
    this.accessLog = accessLog;
    this.access$ = new Observable<AccessEvent>((subscriber) => {
      const listener = (event: AccessEvent): void => subscriber.next(event);
      this.events.on('access', listener);
      return () => this.events.off('access', listener);
    });
  }

  /**
   * Prepares a server for a configuration: checks the engine is the patched one, the share folders
   * exist, opens the state (locks and dead properties) and removes uploads a crash left behind.
   *
   * @throws WebdavError `WEBDAV_START_FAILED`, `WEBDAV_ENGINE_UNPATCHED`
   */
  static async open(config: ShareConfig, options: OpenOptions = {}): Promise<ShareServer> {
    const now = options.now ?? Date.now;
    const shares: ShareRuntime[] = [];
    for (const settings of config.shares) {
      let rootReal: string;
      try {
        rootReal = await realpath(settings.root);
        if (!(await stat(rootReal)).isDirectory()) throw new Error('not a folder');
      } catch (error) {
        throw new WebdavError(
          'WEBDAV_START_FAILED',
          `share ${settings.path}: folder ${settings.root} is not usable: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
      let fs: ShareFs;
      try {
        fs = await ShareFs.open(rootReal, settings.symlinks === 'one-level-up');
      } catch (error) {
        for (const share of shares) await share.fs.close();
        throw new WebdavError(
          'WEBDAV_START_FAILED',
          `share ${settings.path}: cannot open ${rootReal}: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
      shares.push({ name: settings.name, settings, rootReal, fs });
    }
    let db: StateDb;
    try {
      db = new StateDb(config.stateDir);
    } catch (error) {
      for (const share of shares) await share.fs.close();
      throw new WebdavError(
        'WEBDAV_START_FAILED',
        `cannot open the state in ${config.stateDir}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const events = new EventEmitter<ShareServerEvents>();
    const startupWarnings: ShareWarning[] = [];
    const warn = (message: string, details?: Record<string, unknown>): void => {
      const warning = { message, ...(details && { details }) };
      if (!started) startupWarnings.push(warning);
      events.emit('warning', warning);
    };
    let started = false;
    // A worker of a cluster leaves this to the primary, which does it once before forking workers.
    if (options.worker !== true) await removeLeftovers(db, db.uploads(), warn);
    let engine;
    try {
      engine = createEngine(
        shares.map((share) => ({ urlPath: `/${share.name}`, fs: share.fs })),
        {
          trackUpload: (temp, active) => (active ? db.addUpload(temp) : db.removeUpload(temp)),
          onCrash: (error, method) =>
            warn(`webdav-server threw while handling ${method}: ${(error as Error).message}`),
        },
      );
    } catch (error) {
      db.close();
      for (const share of shares) await share.fs.close();
      throw error;
    }
    const core: ServerCore = {
      config,
      shares,
      db,
      locks: new LockManager(db, now),
      auth: new Authenticator(config, db, now),
      engine,
      usage: new UsageTracker(db, now),
      now,
      warn,
    };
    // A worker's access events go to its primary, the file's one writer.
    const accessLog =
      config.accessLog && options.worker !== true
        ? new AccessLogFile(config.accessLog.file, (error) =>
            warn(`access log ${config.accessLog?.file}: ${error.message}`),
          )
        : undefined;
    const server = new ShareServer(core, accessLog, startupWarnings);
    started = true;
    events.on('warning', (warning) => server.events.emit('warning', warning));
    return server;
  }

  /** The configuration the server runs on. */
  get config(): ShareConfig {
    return this.core.config;
  }

  /**
   * Handles one request. Paths outside the mount path and the shares get 404 (use `owns` first to let
   * another handler have them). Never throws and never rejects: a failure answers 500 and is reported
   * as a warning.
   */
  async handle(req: IncomingMessage, res: ServerResponse, options: HandleOptions = {}): Promise<void> {
    const method = methodOf(req.method);
    const url = req.url ?? '/';
    const seen: Seen = { principal: undefined, reason: undefined };
    let parsed: RequestPath | undefined;
    // The access event costs a timestamp, wrapped write/end and a close listener per request: only
    // when an access log or a listener wants it (a listener added later sees the requests after).
    if (this.recordsAccess) this.track(req, res, method, seen, () => pathSeen(url, parsed));
    try {
      res.setHeader('DAV', '1, 2');
      res.setHeader('MS-Author-Via', 'DAV');
      if (req.headers.origin !== undefined) this.cors(req, res);
      parsed = parseRequestPath(url);
      const mount = this.core.config.mount;
      const base = options.base === undefined ? mount : [...options.base, ...mount];
      if (!startsWith(parsed.segments, base)) throw new HttpError(404, 'not found');
      if (
        method === 'OPTIONS' &&
        req.headers.origin !== undefined &&
        req.headers['access-control-request-method'] !== undefined
      ) {
        res.statusCode = 204;
        res.end();
        return;
      }
      // No Authorization header is an anonymous request: no promise to wait for (authenticate() would
      // answer the same).
      const principal =
        req.headers.authorization === undefined ? undefined : await this.core.auth.authenticate(req);
      seen.principal = principal;
      await this.dispatch(req, res, method, principal, base, parsed);
    } catch (error) {
      let failure = isHttpError(error) ? error : errnoStatus(error);
      if (!failure) {
        const path = pathSeen(url, parsed);
        this.core.warn(`${method} ${path} failed: ${(error as Error).message ?? String(error)}`, {
          method,
          path,
          stack: (error as Error).stack,
        });
        failure = new HttpError(500, 'internal error');
      }
      seen.reason = failure.message;
      if (hasBody(req) && !req.readableEnded) {
        // A refused request's body: a small one (declared, the client not waiting for 100 Continue) is
        // read and dropped, so a client still sending it gets the answer rather than a reset connection;
        // a large or unknown one is not read to its end, the connection closes after the answer.
        const declared = Number(req.headers['content-length']);
        if (req.headers.expect === undefined && declared <= DRAIN_REFUSED_BODY) req.resume();
        else res.setHeader('Connection', 'close');
      }
      if (failure.status === 499) res.destroy();
      else sendError(res, failure, method === 'HEAD');
    }
  }

  /** Counts the response's bytes and reports the request as an access event when it closes. */
  private track(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    seen: Seen,
    path: () => string,
  ): void {
    const started = performance.now();
    const time = new Date(this.core.now()).toISOString();
    let bytes = 0;
    const write = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (chunk && typeof chunk !== 'function') bytes += Buffer.byteLength(chunk as string | Buffer);
      return write(chunk, ...rest);
    }) as typeof res.write;
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (chunk && typeof chunk !== 'function') bytes += Buffer.byteLength(chunk as string | Buffer);
      return end(chunk, ...rest);
    }) as typeof res.end;
    res.once('close', () => {
      const event: AccessEvent = {
        time,
        method,
        path: path(),
        user: seen.principal?.name,
        status: res.statusCode,
        bytes,
        bytesIn:
          req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']),
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        address: req.socket.remoteAddress,
        ...(seen.reason !== undefined && { reason: seen.reason }),
      };
      this.accessLog?.write(event);
      this.events.emit('access', event);
    });
  }

  /**
   * Whether a request URL is for the shares (under the mount path, on a share or above them): what a
   * host application checks before handing a request over. A path under the mount path that is not
   * even valid is the shares' too (they answer 400).
   */
  owns(url: string, options: HandleOptions = {}): boolean {
    const base = [...(options.base ?? []), ...this.core.config.mount];
    let segments: readonly string[];
    try {
      segments = parseRequestPath(url).segments;
    } catch {
      const raw = url.split('?')[0] ?? '';
      return raw.startsWith(`/${base.join('/')}`);
    }
    if (!base.every((segment, index) => segments[index] === segment)) return false;
    return route(this.core, segments.slice(base.length)) !== undefined;
  }

  private async dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    principal: AuthenticatedPrincipal | undefined,
    base: readonly string[],
    parsed: RequestPath,
  ): Promise<void> {
    const segments = base.length === 0 ? parsed.segments : parsed.segments.slice(base.length);
    if (segments.some(isTempName)) throw new HttpError(404, 'not found');
    const found = route(this.core, segments);
    if (!found) throw new HttpError(404, 'not found');
    if (found.kind === 'virtual')
      return handleVirtual(this.core, req, res, method, principal, base, found.segments);
    const { share } = found;
    const access = METHOD_ACCESS[method];
    if (!access) throw new HttpError(501, `method ${method} is not supported`, { Allow: ALLOW });
    const rule = access === 'read' ? share.settings.read : share.settings.write;
    if (!ruleAllows(rule, principal, this.core.config.groups)) {
      const canWrite = ruleAllows(share.settings.write, principal, this.core.config.groups);
      if (access === 'write' && !principal)
        throw denied(this.core, principal, `write to ${share.settings.path}`);
      if (access === 'write' && ruleAllows(share.settings.read, principal, this.core.config.groups))
        throw new HttpError(
          principal ? 403 : 401,
          `${share.settings.path} is read-only for ${principal?.name ?? 'anonymous users'}`,
          {
            Allow: ALLOW_READ,
            ...(principal ? {} : this.core.auth.challenge()),
          },
        );
      throw denied(this.core, principal, `${canWrite ? 'read' : 'use'} ${share.settings.path}`);
    }
    const ifHeader = req.headers.if;
    const ifLists =
      typeof ifHeader === 'string' && ifHeader.trim() !== '' ? parseIfHeader(ifHeader) : undefined;
    const lockToken = method === 'PUT' ? req.headers['lock-token'] : undefined;
    let tokens: ReadonlySet<string> = NO_TOKENS;
    if (ifLists || typeof lockToken === 'string') {
      const submitted = new Set(ifLists ? submittedTokens(ifLists) : []);
      if (typeof lockToken === 'string') submitted.add(lockToken.trim().replace(/^<(.*)>$/, '$1'));
      tokens = submitted;
    }
    const scope: Scope = {
      core: this.core,
      req,
      res,
      method,
      principal,
      base,
      share,
      segments: found.segments,
      path: found.segments.join('/'),
      trailingSlash: parsed.trailingSlash,
      ifLists,
      tokens,
    };
    if (method !== 'PUT' && req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
    switch (method) {
      case 'GET':
      case 'HEAD':
        return handleGet(scope);
      case 'OPTIONS':
        res.statusCode = 200;
        res.setHeader(
          'Allow',
          ruleAllows(share.settings.write, principal, this.core.config.groups) ? ALLOW : ALLOW_READ,
        );
        res.setHeader('Accept-Ranges', 'bytes');
        res.setHeader('Content-Length', 0);
        res.end();
        return;
      case 'PROPFIND':
        return handlePropfind(scope);
      case 'PUT':
        return handlePut(scope);
      case 'PROPPATCH':
        return handleProppatch(scope);
      case 'LOCK':
        return handleLock(scope);
      case 'UNLOCK':
        return handleUnlock(scope);
      case 'MKCOL':
        return handleMkcol(scope);
      case 'DELETE':
        return handleDelete(scope);
      case 'COPY':
      case 'MOVE':
        return handleCopyMove(scope);
      default:
        throw new HttpError(501, `method ${method} is not supported`, { Allow: ALLOW });
    }
  }

  private cors(req: IncomingMessage, res: ServerResponse): void {
    const origin = req.headers.origin;
    if (origin === undefined || !this.core.config.corsOrigins.includes(origin)) return;
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.setHeader('Vary', 'Origin');
    res.setHeader('Access-Control-Expose-Headers', 'DAV, ETag, Lock-Token, Content-Range, Accept-Ranges');
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', ALLOW);
      res.setHeader(
        'Access-Control-Allow-Headers',
        'Authorization, Content-Type, Depth, Destination, Overwrite, If, Lock-Token, Timeout, Range, If-Match, If-None-Match',
      );
      res.setHeader('Access-Control-Max-Age', '600');
    }
  }

  /**
   * Listens on its own `http` (or `https`) server. Request timeouts suit multi-GB uploads: no overall
   * request limit, 60 s for headers, 120 s of silence on a connection.
   *
   * @returns the base URL (`http://127.0.0.1:8080`)
   */
  async listen(options: ListenOptions = {}): Promise<{ url: string; server: Server }> {
    const extra = Object.entries(options.responseHeaders ?? {});
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      for (const [name, value] of extra) res.setHeader(name, value);
      void this.handle(req, res);
    };
    let server: Server;
    if (options.tls) {
      let cert: Buffer;
      let key: Buffer;
      try {
        cert = readFileSync(options.tls.cert);
        key = readFileSync(options.tls.key);
      } catch (error) {
        throw new WebdavError(
          'WEBDAV_START_FAILED',
          `cannot read the TLS certificate or key: ${(error as Error).message}`,
          { cause: error },
        );
      }
      server = createHttpsServer({ cert, key }, handler);
    } else server = createHttpServer(handler);
    // Expect: 100-continue is answered by the handler, after the checks (so a refused upload never starts).
    server.on('checkContinue', handler);
    configureTimeouts(server);
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) =>
        reject(
          new WebdavError(
            'WEBDAV_START_FAILED',
            `cannot listen on ${host}:${options.port ?? 0}: ${error.message}`,
            { cause: error },
          ),
        ),
      );
      server.listen(options.port ?? 0, host, () => resolve());
    });
    this.servers.add(server);
    const address = server.address() as AddressInfo;
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return { url: `${options.tls ? 'https' : 'http'}://${shown}:${address.port}`, server };
  }

  /** Whether access events are wanted now: an access log file, or an `access` listener. */
  get recordsAccess(): boolean {
    return this.accessLog !== undefined || this.events.listenerCount('access') > 0;
  }

  /**
   * Records access events handled elsewhere (by the worker processes of a {@link ShareCluster}): they
   * go to this server's access log file (one writer for the whole cluster) and `access` listeners.
   */
  recordAccess(events: readonly AccessEvent[]): void {
    for (const event of events) {
      this.accessLog?.write(event);
      this.events.emit('access', event);
    }
  }

  /**
   * Removes what a process that died (a worker of a {@link ShareCluster}, by pid) left: the temporary
   * files of its uploads in progress and its reservations of quota.
   */
  async cleanUpAfter(pid: number): Promise<void> {
    if (this.closed) return;
    await removeLeftovers(
      this.core.db,
      this.core.db.uploadsOf(pid),
      (message) => this.core.warn(message),
      pid,
    );
  }

  /** Whether the server is ready (state open, not closed). */
  healthy(): boolean {
    return !this.closed;
  }

  /** Stops listening, lets requests in flight finish (up to `graceMs`), then closes the state. */
  async close(graceMs = 10_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(
      [...this.servers].map(
        (server) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => server.closeAllConnections(), graceMs);
            timer.unref();
            server.close(() => {
              clearTimeout(timer);
              resolve();
            });
            server.closeIdleConnections();
          }),
      ),
    );
    this.servers.clear();
    await this.accessLog?.close();
    for (const share of this.core.shares) await share.fs.close();
    this.core.db.close();
  }
}

/** Timeouts for a server that carries multi-GB uploads and downloads. */
export function configureTimeouts(server: Server): void {
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.timeout = 120_000;
  server.keepAliveTimeout = 5_000;
}

/**
 * Removes the temporary files of uploads a crashed process left (their paths are in the state), and
 * their reservations of quota: at start (every upload is a leftover then: `pid` undefined)
 * and when a worker process died (only its own: `pid`).
 */
async function removeLeftovers(
  db: StateDb,
  temps: readonly string[],
  warn: (message: string) => void,
  pid?: number,
): Promise<void> {
  for (const temp of temps) {
    await unlink(temp).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') warn(`cannot remove the leftover upload ${temp}: ${error.message}`);
    });
    db.removeUpload(temp);
  }
  db.releaseReservations(pid);
}
