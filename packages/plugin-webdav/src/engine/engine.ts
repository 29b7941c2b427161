import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { v2 as webdav } from 'webdav-server';
import type { AuthenticatedPrincipal } from '../auth/principal.js';
import { WebdavError } from '../errors/webdav-error.js';
import { guardRequest } from './request-guard.js';
import { SafeFileSystem } from './safe-file-system.js';
import type { ShareFs } from '../access/share-fs.js';

/** Marks the request object with the principal the plugin authenticated (the engine's user adapter reads it). */
const PRINCIPAL = Symbol('beamline.webdav.principal');

type EngineRequest = IncomingMessage & { [PRINCIPAL]?: AuthenticatedPrincipal | undefined; body?: Buffer };

/** The marker every patched engine file carries (`patches/webdav-server+2.6.3.patch`). */
const ENGINE_PATCH_MARKER = 'beamline-webdav-patch';
const PATCHED_FILES = [
  'lib/helper/v2/IfParser.js',
  'lib/server/v2/commands/Proppatch.js',
  'lib/server/v2/webDAVServer/StartStop.js',
  'lib/server/v2/commands/Move.js',
  'lib/server/v2/RequestContext.js',
  'lib/manager/v2/Path.js',
  'lib/server/v2/commands/Lock.js',
];

/**
 * Checks that the installed webdav-server is 2.6.3 with the plugin's patches applied (`npm install` runs
 * patch-package); an unpatched engine crashes on one malformed `If` header, so the server refuses to start.
 *
 * @throws WebdavError `WEBDAV_ENGINE_UNPATCHED`
 */
function verifyEnginePatched(): void {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('webdav-server/package.json'));
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const missing = PATCHED_FILES.filter(
    (file) => !readFileSync(join(root, file), 'utf8').includes(ENGINE_PATCH_MARKER),
  );
  if (version !== '2.6.3' || missing.length > 0)
    throw new WebdavError(
      'WEBDAV_ENGINE_UNPATCHED',
      `webdav-server ${version} at ${root} is not the patched 2.6.3 the plugin needs (unpatched: ${missing.join(', ') || 'version differs'}); run \`npm install\` at the repository root, which applies patches/webdav-server+2.6.3.patch`,
    );
}

/** What the engine runs: COPY, MOVE, DELETE and MKCOL, once the plugin has checked the request. */
export interface Engine {
  /** The webdav-server instance (shares mounted at their URL paths). */
  readonly dav: webdav.WebDAVServer;
  /**
   * Runs a checked request: `req.url` and `Destination` must be the canonical share paths, `body` the
   * request body already read. Resolves when the response is finished; a throw inside the engine ends
   * this request with 500 (or a closed connection) and is reported, never the process.
   */
  execute(
    req: IncomingMessage,
    res: ServerResponse,
    principal: AuthenticatedPrincipal | undefined,
    body: Buffer,
  ): Promise<void>;
}

class AllowAll extends webdav.PrivilegeManager {
  override can(
    _path: unknown,
    _resource: unknown,
    _privilege: unknown,
    callback: webdav.PrivilegeManagerCallback,
  ): void {
    // The plugin decided before the engine ran; the engine's checks are a no-op.
    callback(undefined as unknown as Error, true);
  }
}

/** Creates the engine with one {@link SafeFileSystem} per share. */
export function createEngine(
  shares: readonly { readonly urlPath: string; readonly fs: ShareFs }[],
  options: {
    trackUpload: (temp: string, active: boolean) => void;
    onCrash: (error: unknown, method: string) => void;
  },
): Engine {
  verifyEnginePatched();
  const anonymous = { uid: '', username: '', isAdministrator: false, isDefaultUser: true };
  const authentication = {
    askForAuthentication: () => ({}),
    getUser: (
      ctx: webdav.HTTPRequestContext,
      callback: (error: Error | undefined, user?: webdav.IUser) => void,
    ) => {
      const principal = (ctx.request as EngineRequest)[PRINCIPAL];
      callback(
        undefined,
        principal
          ? {
              uid: `${principal.kind}:${principal.name}`,
              username: principal.name,
              isAdministrator: false,
              isDefaultUser: false,
            }
          : anonymous,
      );
    },
  };
  const dav = new webdav.WebDAVServer({
    httpAuthentication: authentication as unknown as webdav.HTTPAuthentication,
    privilegeManager: new AllowAll(),
    respondWithPaths: true,
    maxRequestDepth: 1,
    strictMode: true,
  });
  for (const share of shares)
    dav.setFileSystemSync(share.urlPath, new SafeFileSystem(share.fs, options.trackUpload));
  return {
    dav,
    execute(req, res, principal, body) {
      const request = req as EngineRequest;
      const method = req.method ?? '';
      request[PRINCIPAL] = principal;
      request.body = body;
      return new Promise<void>((resolve) => {
        // `end` is known only once guardRequest returns; the request may be over before that.
        const state: { end?: () => void; over: boolean } = { over: false };
        const done = (): void => {
          if (state.over) return;
          state.over = true;
          state.end?.();
          resolve();
        };
        res.once('close', done);
        res.once('finish', done);
        const end = guardRequest(
          () => {
            (dav.executeRequest as (req: IncomingMessage, res: ServerResponse) => void)(req, res);
          },
          (error: unknown) => {
            options.onCrash(error, method);
            if (!res.headersSent) {
              res.statusCode = 500;
              res.setHeader('Content-Type', 'text/plain; charset=utf-8');
              res.end('internal error\n');
            } else res.destroy();
            done();
          },
          // after the request: only reported (its connection may be serving another request by now)
          (error: unknown) => options.onCrash(error, method),
        );
        state.end = end;
        if (state.over) end();
      });
    },
  };
}
