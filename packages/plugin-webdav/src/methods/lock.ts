import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { at } from '../access/share-fs.js';
import { etagOf } from '../http/conditional.js';
import { HttpError } from '../http/http-error.js';
import { child, DAV, elements, parseXml, serializeElement } from '../http/xml.js';
import { hrefOf, type Scope } from '../server/scope.js';
import type { LockTarget } from '../state/lock-manager.js';
import type { LockRecord } from '../state/state-db.js';
import { checkIfHeader } from './conditions.js';
import { activeLock } from './properties.js';
import { header, readBody } from './respond.js';

const XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n';

/** The timeout a client asks for (`Second-600`, `Infinite`, a list: the first understood), capped. */
function lockTimeout(header: string | undefined, defaultMs: number, maxMs: number): number {
  if (header !== undefined) {
    for (const part of header.split(',')) {
      const value = part.trim();
      if (/^infinite$/i.test(value)) return maxMs;
      const match = /^second-(\d{1,12})$/i.exec(value);
      if (match) return Math.max(1000, Math.min(Number(match[1]) * 1000, maxMs));
    }
  }
  return Math.min(defaultMs, maxMs);
}

function lockBody(lock: LockRecord, href: string, now: number): string {
  return `${XML_HEAD}<D:prop xmlns:D="DAV:"><D:lockdiscovery>${activeLock(lock, href, now)}</D:lockdiscovery></D:prop>\n`;
}

function lockRootHref(scope: Scope, lock: LockTarget): string {
  return hrefOf(scope.base, scope.share, lock.path === '' ? [] : lock.path.split('/'), false);
}

/**
 * LOCK: a new exclusive or shared write lock (depth 0 or infinity; 423 on conflict), on an unmapped
 * URL an empty file is created first (201); a LOCK without a body refreshes the lock named in `If`.
 * Answers `Lock-Token: <urn:uuid:…>` (with the brackets RFC 4918 requires) and the lock discovery.
 */
export async function handleLock(scope: Scope): Promise<void> {
  const { core, share, req, res } = scope;
  const { defaultTimeoutMs, maxTimeoutMs } = core.config.locks;
  const timeout = lockTimeout(header(req, 'timeout'), defaultTimeoutMs, maxTimeoutMs);
  const body = await readBody(req);
  const target = await share.fs.statForWrite(scope.segments);
  const etag = target.existing?.isFile() ? etagOf(target.existing) : undefined;
  const place = { share: share.name, path: scope.path };
  const hrefOfLock = (lock: LockTarget): string => lockRootHref(scope, lock);

  if (body.length === 0) {
    // Refresh: the If header names the lock.
    if (!scope.ifLists)
      throw new HttpError(400, 'a LOCK without a body refreshes a lock named in the If header');
    checkIfHeader(scope, etag);
    const covering = core.locks.covering(place).filter((lock) => scope.tokens.has(lock.token));
    const lock = covering[0];
    if (!lock)
      throw new HttpError(
        412,
        'no lock of this resource is named in the If header',
        {},
        '<D:lock-token-matches-request-uri/>',
      );
    if (lock.principal !== undefined && lock.principal !== scope.principal?.name)
      throw new HttpError(403, 'the lock belongs to someone else');
    const refreshed = core.locks.refresh(lock.token, timeout) ?? lock;
    const text = lockBody(refreshed, hrefOfLock(refreshed), core.now());
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/xml; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(text);
    return;
  }

  const depthHeader = header(req, 'depth')?.trim().toLowerCase();
  if (depthHeader !== undefined && depthHeader !== '0' && depthHeader !== 'infinity')
    throw new HttpError(400, 'Depth of a LOCK must be 0 or infinity');
  const depth = depthHeader === '0' ? 0 : -1;
  const root = parseXml(body);
  if (root.ns !== DAV || root.local !== 'lockinfo') throw new HttpError(400, 'expected a DAV:lockinfo body');
  const scopeElement = child(root, DAV, 'lockscope');
  const typeElement = child(root, DAV, 'locktype');
  const scopeValue = scopeElement ? elements(scopeElement)[0] : undefined;
  const typeValue = typeElement ? elements(typeElement)[0] : undefined;
  if (
    !scopeValue ||
    scopeValue.ns !== DAV ||
    (scopeValue.local !== 'exclusive' && scopeValue.local !== 'shared')
  )
    throw new HttpError(400, 'expected DAV:lockscope with DAV:exclusive or DAV:shared');
  if (!typeValue || typeValue.ns !== DAV || typeValue.local !== 'write')
    throw new HttpError(422, 'only DAV:write locks exist');
  const ownerElement = child(root, DAV, 'owner');
  checkIfHeader(scope, etag);
  if (!target.existing)
    core.locks.assertCanModify(place, scope.tokens, { members: true, hrefOf: hrefOfLock });
  const lock = core.locks.create({
    ...place,
    depth,
    scope: scopeValue.local,
    owner: ownerElement ? serializeElement(ownerElement) : undefined,
    principal: scope.principal?.name,
    timeoutMs: timeout,
  });
  if (!target.existing) {
    try {
      const parent = await share.fs.openParent(scope.segments);
      try {
        const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
        await (await open(at(parent.parent, parent.name), flags, 0o666)).close();
      } finally {
        await parent.close();
      }
      core.db.deleteTree(share.name, scope.path);
    } catch (error) {
      core.locks.remove(lock.token);
      throw error;
    }
  }
  const text = lockBody(lock, hrefOfLock(lock), core.now());
  res.statusCode = target.existing ? 200 : 201;
  res.setHeader('Lock-Token', `<${lock.token}>`);
  res.setHeader('Content-Type', 'application/xml; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/**
 * UNLOCK: removes the lock named in `Lock-Token` (with brackets, or bare as Windows sends it) when it
 * covers the request URL (409 otherwise) and belongs to the requester (403 otherwise).
 */
export async function handleUnlock(scope: Scope): Promise<void> {
  const { core, share, req, res } = scope;
  const value = header(req, 'lock-token')?.trim();
  if (!value) throw new HttpError(400, 'UNLOCK needs a Lock-Token header');
  const token = value.startsWith('<') && value.endsWith('>') ? value.slice(1, -1).trim() : value;
  const lock = core.locks.get(token);
  const covers = core.locks
    .covering({ share: share.name, path: scope.path })
    .some((item) => item.token === token);
  if (!lock || !covers)
    throw new HttpError(409, 'no such lock on this resource', {}, '<D:lock-token-matches-request-uri/>');
  if (lock.principal !== undefined && lock.principal !== scope.principal?.name)
    throw new HttpError(403, 'the lock belongs to someone else');
  core.locks.remove(token);
  res.statusCode = 204;
  res.end();
  await Promise.resolve();
}
