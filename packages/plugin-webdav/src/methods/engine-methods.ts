import { etagOf } from '../http/conditional.js';
import { HttpError } from '../http/http-error.js';
import { encodePath } from '../http/request-path.js';
import { routeUrl } from '../server/routing.js';
import { hrefOf, requireRead, requireWrite, type Scope, type ShareRuntime } from '../server/scope.js';
import type { LockTarget } from '../state/lock-manager.js';
import { checkIfHeader } from './conditions.js';
import { hasBody, header, readBody } from './respond.js';

function lockHref(scope: Scope, share: ShareRuntime) {
  return (lock: LockTarget): string =>
    hrefOf(scope.base, share, lock.path === '' ? [] : lock.path.split('/'), false);
}

/** Hands a checked request to webdav-server with its URL in canonical form (what the guard checked). */
async function runEngine(scope: Scope, body: Buffer, destination?: string): Promise<number> {
  const { req, res } = scope;
  req.url = encodePath([...scope.share.settings.segments, ...scope.segments]);
  // The plugin evaluated If and holds the locks; the engine's own lock and If logic must not run again.
  delete req.headers.if;
  delete req.headers['lock-token'];
  if (destination !== undefined) req.headers.destination = destination;
  await scope.core.engine.execute(req, res, scope.principal, body);
  return res.statusCode;
}

/** MKCOL: checked here (no body, parent exists, locks), run by the engine. */
export async function handleMkcol(scope: Scope): Promise<void> {
  const { core, share } = scope;
  if (hasBody(scope.req)) {
    const body = await readBody(scope.req);
    if (body.length > 0) throw new HttpError(415, 'MKCOL with a body is not supported');
  }
  if (scope.segments.length === 0) throw new HttpError(405, 'the share exists');
  const target = await share.fs.statForWrite(scope.segments);
  if (target.existing) throw new HttpError(405, 'something exists at this URL');
  checkIfHeader(scope, undefined);
  core.locks.assertCanModify({ share: share.name, path: scope.path }, scope.tokens, {
    members: true,
    hrefOf: lockHref(scope, share),
  });
  const status = await runEngine(scope, Buffer.alloc(0));
  if (status === 201) core.db.deleteTree(share.name, scope.path);
}

/** DELETE: a file or a whole folder (links inside are removed, never followed); run by the engine. */
export async function handleDelete(scope: Scope): Promise<void> {
  const { core, share } = scope;
  if (scope.segments.length === 0) throw new HttpError(403, 'a share cannot be deleted');
  const depth = header(scope.req, 'depth')?.trim().toLowerCase();
  if (depth !== undefined && depth !== 'infinity')
    throw new HttpError(400, 'DELETE works on the whole tree (Depth: infinity)');
  const target = await share.fs.statForWrite(scope.segments);
  if (!target.existing) throw new HttpError(404, 'not found');
  checkIfHeader(scope, target.existing.isFile() ? etagOf(target.existing) : undefined);
  core.locks.assertCanModify({ share: share.name, path: scope.path }, scope.tokens, {
    members: true,
    tree: true,
    hrefOf: lockHref(scope, share),
  });
  const status = await runEngine(scope, await readBody(scope.req));
  if (status >= 200 && status < 300) {
    core.db.deleteTree(share.name, scope.path);
    core.locks.removeTree({ share: share.name, path: scope.path });
    core.usage.invalidate(share);
  }
}

/**
 * COPY and MOVE: the source read (COPY) or written (MOVE) by the principal, the destination (any share
 * on this server) written, neither through a link, locks of both sides, `Overwrite` (default T) and
 * Depth (COPY 0 or infinity, MOVE infinity) checked here; run by the engine. Dead properties follow
 * the resource; locks stay where they were (RFC 4918: a moved resource leaves its locks).
 */
export async function handleCopyMove(scope: Scope): Promise<void> {
  const { core, share, req } = scope;
  const move = scope.method === 'MOVE';
  const destinationHeader = header(req, 'destination');
  if (destinationHeader === undefined || destinationHeader === '')
    throw new HttpError(400, 'Destination header missing');
  const destination = routeUrl(core, scope.base, destinationHeader, req.headers.host);
  if (!destination) throw new HttpError(502, 'the destination is not a share of this server');
  const targetShare = destination.share;
  requireWrite(core, scope.principal, targetShare);
  if (move) requireWrite(core, scope.principal, share);
  else requireRead(core, scope.principal, share);
  const depthHeader = header(req, 'depth')?.trim().toLowerCase();
  if (depthHeader !== undefined && depthHeader !== 'infinity' && (move || depthHeader !== '0'))
    throw new HttpError(
      400,
      move ? 'MOVE works on the whole tree (Depth: infinity)' : 'Depth of a COPY must be 0 or infinity',
    );
  const overwriteHeader = header(req, 'overwrite')?.trim().toUpperCase();
  if (overwriteHeader !== undefined && overwriteHeader !== 'T' && overwriteHeader !== 'F')
    throw new HttpError(400, 'Overwrite must be T or F');
  const overwrite = overwriteHeader !== 'F';
  if (scope.segments.length === 0 || destination.segments.length === 0)
    throw new HttpError(403, 'a share itself cannot be copied, moved or replaced');
  const source = await share.fs.statForWrite(scope.segments);
  if (!source.existing) throw new HttpError(404, 'not found');
  const destinationPath = destination.segments.join('/');
  const sameShare = targetShare === share;
  if (sameShare && destinationPath === scope.path)
    throw new HttpError(403, 'source and destination are the same');
  if (sameShare && source.existing.isDirectory() && destinationPath.startsWith(`${scope.path}/`))
    throw new HttpError(409, 'cannot copy or move a folder into itself');
  const target = await targetShare.fs.statForWrite(destination.segments);
  if (target.existing && !overwrite) throw new HttpError(412, 'the destination exists and Overwrite is F');
  checkIfHeader(scope, source.existing.isFile() ? etagOf(source.existing) : undefined);
  const to = { share: targetShare.name, path: destinationPath };
  core.locks.assertCanModify(to, scope.tokens, {
    members: true,
    tree: true,
    hrefOf: lockHref(scope, targetShare),
  });
  if (move)
    core.locks.assertCanModify({ share: share.name, path: scope.path }, scope.tokens, {
      members: true,
      tree: true,
      hrefOf: lockHref(scope, share),
    });
  req.headers.overwrite = overwrite ? 'T' : 'F';
  req.headers.depth = depthHeader === '0' ? '0' : 'infinity';
  const status = await runEngine(
    scope,
    await readBody(req),
    encodePath([...targetShare.settings.segments, ...destination.segments]),
  );
  if (status === 201 || status === 204) {
    core.db.copyTree(
      share.name,
      scope.path,
      targetShare.name,
      destinationPath,
      move,
      !move && depthHeader === '0',
    );
    if (move) core.locks.removeTree({ share: share.name, path: scope.path });
    core.usage.invalidate(targetShare);
    if (move) core.usage.invalidate(share);
  }
}
