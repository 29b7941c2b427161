import type { FileHandle } from 'node:fs/promises';
import type { WriteTarget } from '../access/share-fs.js';
import { checkPreconditions, etagOf, lastModifiedOf } from '../http/conditional.js';
import { HttpError } from '../http/http-error.js';
import { createTemp } from '../server/atomic-file.js';
import { hrefOf, type Scope } from '../server/scope.js';
import type { Reservation } from '../server/usage-tracker.js';
import { checkIfHeader } from './conditions.js';

/** Bytes gathered before one `writev` (the body is read while the previous batch is written). */
const WRITE_BATCH = 1024 * 1024;

/**
 * Writes a request body into an open file, in batches, with back-pressure (the request is not read
 * while a batch is written); stops with `limitStatus` once more than `limit` bytes came (chunked
 * uploads declare no length). Returns the byte count.
 */
async function writeBody(
  req: AsyncIterable<Buffer>,
  handle: FileHandle,
  limit: number,
  limitStatus: number,
  reservation: Reservation,
  reserved: number,
): Promise<number> {
  let bytes = 0;
  let batch: Buffer[] = [];
  let batchBytes = 0;
  const flush = async (): Promise<void> => {
    const { bytesWritten } = await handle.writev(batch);
    if (bytesWritten !== batchBytes) throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
    batch = [];
    batchBytes = 0;
  };
  for await (const chunk of req) {
    bytes += chunk.length;
    if (bytes > limit)
      throw new HttpError(
        limitStatus,
        limitStatus === 413 ? 'upload larger than the share allows' : 'not enough space',
      );
    // A body longer than what was reserved (a chunked upload) reserves more as it comes, a batch at once.
    if (bytes > reserved) {
      const more = Math.max(bytes - reserved, WRITE_BATCH);
      if (!reservation.grow(more))
        throw new HttpError(507, 'not enough space: the share is full', {}, '<D:quota-not-exceeded/>');
      reserved += more;
    }
    batch.push(chunk);
    batchBytes += chunk.length;
    if (batchBytes >= WRITE_BATCH) await flush();
  }
  if (batchBytes > 0) await flush();
  return bytes;
}

/**
 * PUT, atomically: the body goes to a temporary file in the target's folder (created with `O_EXCL |
 * O_NOFOLLOW`, checked to be where the guard looked), its length is checked against `Content-Length`,
 * it is fsync'd and renamed over the target, and the folder is fsync'd. An aborted upload removes the
 * temporary file and leaves the old content. 507 before the body is read when the declared length
 * exceeds the share's quota or the free space, 413 beyond the share's upload limit.
 */
export async function handlePut(scope: Scope): Promise<void> {
  if (scope.segments.length === 0) throw new HttpError(405, 'PUT on a collection');
  const target = await scope.share.fs.openParent(scope.segments);
  try {
    await upload(scope, target);
  } finally {
    await target.close();
  }
}

async function upload(scope: Scope, target: WriteTarget): Promise<void> {
  const { req, res, core, share } = scope;
  if (target.existing?.isDirectory()) throw new HttpError(405, 'PUT on a collection');
  const etag = target.existing ? etagOf(target.existing) : undefined;
  checkIfHeader(scope, etag);
  checkPreconditions(req.headers, 'PUT', {
    etag,
    lastModified: target.existing ? lastModifiedOf(target.existing) : undefined,
  });
  core.locks.assertCanModify({ share: share.name, path: scope.path }, scope.tokens, {
    members: target.existing === undefined,
    hrefOf: (lock) => hrefOf(scope.base, share, lock.path === '' ? [] : lock.path.split('/'), false),
  });
  if (req.headers['content-range'] !== undefined)
    throw new HttpError(400, 'Content-Range on PUT is not supported (partial updates would not be atomic)');

  const declared =
    req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  const oldSize = target.existing ? Number(target.existing.size) : 0;
  let limit = Number.MAX_SAFE_INTEGER;
  let limitStatus = 507;
  if (share.settings.maxUpload !== undefined) {
    if (declared !== undefined && declared > share.settings.maxUpload)
      throw new HttpError(413, `upload larger than the share's limit of ${share.settings.maxUpload} bytes`);
    limit = share.settings.maxUpload;
    limitStatus = 413;
  }
  const quota = await core.usage.quota(share);
  // Replacing a file frees its old bytes once the rename is done; the temporary copy needs room meanwhile.
  const room = share.settings.quota !== undefined ? quota.available + oldSize : quota.available;
  const free = await core.usage.free(target.parent.real);
  const available = Math.min(room, free);
  if (declared !== undefined && declared > available)
    throw new HttpError(
      507,
      `not enough space: ${declared} bytes declared, ${available} available`,
      {},
      '<D:quota-not-exceeded/>',
    );
  if (available < limit) {
    limit = available;
    limitStatus = 507;
  }
  // The declared bytes are reserved against the quota in one transaction with the check, so uploads
  // through other processes (or at the same time through this one) cannot take the same room.
  const reservation = await core.usage.reserve(share, declared ?? 0, oldSize);
  if (!reservation)
    throw new HttpError(
      507,
      `not enough space: ${declared ?? 0} bytes declared, the share's quota is taken by other uploads`,
      {},
      '<D:quota-not-exceeded/>',
    );
  let temp;
  try {
    // Only now may a client waiting for `100 Continue` send the body.
    if (req.headers.expect?.toLowerCase() === '100-continue' && !res.headersSent) res.writeContinue();
    temp = await createTemp(target.parent, target.name);
  } catch (error) {
    reservation.release();
    throw error;
  }
  core.db.addUpload(temp.path);
  try {
    const bytes = await writeBody(req, temp.handle, limit, limitStatus, reservation, declared ?? 0);
    if (declared !== undefined && bytes !== declared)
      throw new HttpError(400, `body of ${bytes} bytes, Content-Length said ${declared}`);
    const written = await temp.handle.stat({ bigint: true });
    await temp.commit(target.existing ? Number(target.existing.mode) : undefined);
    reservation.commit(bytes - oldSize);
    // A new resource starts without the dead properties a removed one at this path may have left.
    if (!target.existing) core.db.deleteTree(share.name, scope.path);
    res.statusCode = target.existing ? 204 : 201;
    res.setHeader('ETag', etagOf(written));
    res.setHeader('Last-Modified', lastModifiedOf(written).toUTCString());
    res.setHeader('Content-Length', 0);
    res.end();
  } catch (error) {
    reservation.release();
    await temp.abort();
    if (error instanceof HttpError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') throw new HttpError(507, 'the disk is full', {}, undefined);
    if (req.destroyed || code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE')
      throw new HttpError(400, 'the upload was cut off; the old content is unchanged');
    throw error;
  } finally {
    core.db.removeUpload(temp.path);
  }
}
