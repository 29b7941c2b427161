import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import { parseRequestPath } from '../http/request-path.js';
import { configureTimeouts, type ShareServer } from './share-server.js';

function segmentsOf(prefix: string | undefined): string[] {
  if (prefix === undefined || prefix === '' || prefix === '/') return [];
  return [...parseRequestPath(prefix).segments];
}

/** Options of {@link attachShares}. */
export interface AttachOptions {
  /** URL prefix the shares live under in the host server (`/dav`); default none (`/data` stays `/data`). */
  readonly prefix?: string;
  /**
   * Raise the host server's timeouts for multi-GB transfers (no overall request limit, 60 s for
   * headers, 120 s of silence): Node's default 300 s `requestTimeout` cuts long uploads. Default true.
   */
  readonly raiseTimeouts?: boolean;
}

/**
 * Mounts the shares on an existing Node `http`/`https` server, beside its own routes: requests for the
 * shares (under `prefix`) go to the share server, every other request to the listeners the server had.
 * Returns a function that restores the original listeners.
 *
 * @example
 * ```ts
 * const app = http.createServer(leaderboard);
 * attachShares(app, shareServer);          // /data, /data-wip → WebDAV; the rest → leaderboard
 * app.listen(8080);
 * ```
 */
export function attachShares(server: Server, shares: ShareServer, options: AttachOptions = {}): () => void {
  const base = segmentsOf(options.prefix);
  const previous = server.listeners('request') as RequestListener[];
  const previousContinue = server.listeners('checkContinue') as RequestListener[];
  const dispatch =
    (fallback: readonly RequestListener[], continueFirst: boolean) =>
    (req: IncomingMessage, res: ServerResponse) => {
      if (shares.owns(req.url ?? '/', { base })) {
        void shares.handle(req, res, { base });
        return;
      }
      if (continueFirst) res.writeContinue();
      for (const listener of fallback) listener(req, res);
      if (fallback.length === 0 && !continueFirst) {
        res.statusCode = 404;
        res.end();
      }
    };
  server.removeAllListeners('request');
  server.removeAllListeners('checkContinue');
  const onRequest = dispatch(previous, false);
  // Without a checkContinue listener Node answers 100 itself; with this one the share server decides
  // (a refused upload is never sent), and other routes get the 100 they would have had.
  const onContinue =
    previousContinue.length > 0 ? dispatch(previousContinue, false) : dispatch(previous, true);
  server.on('request', onRequest);
  server.on('checkContinue', onContinue);
  if (options.raiseTimeouts !== false) configureTimeouts(server);
  return () => {
    server.off('request', onRequest);
    server.off('checkContinue', onContinue);
    for (const listener of previous) server.on('request', listener);
    for (const listener of previousContinue) server.on('checkContinue', listener);
  };
}

/**
 * An Express-style request: `req.baseUrl` is where the middleware was mounted, `req.url` the rest of
 * the path, `req.originalUrl` the whole of it.
 */
interface ExpressLikeRequest extends IncomingMessage {
  baseUrl?: string;
  originalUrl?: string;
}

/**
 * Express middleware serving the shares where it is mounted: `app.use('/dav', webdavExpress(shares))`
 * serves `/dav/data/…`. Requests that are not for a share go to `next()`. Register it before any body
 * parser that would consume `application/xml` (PROPFIND and LOCK bodies are read by the share server; a
 * body a parser left in `req.body` as a Buffer or string is used as is).
 */
export function webdavExpress(
  shares: ShareServer,
): (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void {
  return (req, res, next) => {
    const express = req as ExpressLikeRequest;
    const base = segmentsOf(express.baseUrl);
    // Express strips the mount path from `req.url`; the share server reads the whole path (its hrefs
    // and Destination headers carry the mount path).
    const url = express.originalUrl ?? req.url ?? '/';
    if (!shares.owns(url, { base })) {
      next();
      return;
    }
    req.url = url;
    void shares.handle(req, res, { base });
  };
}

/**
 * A Fastify `serverFactory` that hands the shares' requests to the share server before Fastify sees
 * them (Fastify does not route WebDAV methods) and everything else to Fastify:
 * `Fastify({ serverFactory: webdavFastifyFactory(shares, { prefix: '/dav' }) })`.
 */
export function webdavFastifyFactory(
  shares: ShareServer,
  options: AttachOptions = {},
): (handler: RequestListener) => Server {
  return (handler) => {
    const server = createServer(handler);
    attachShares(server, shares, options);
    return server;
  };
}
