import { randomBytes } from 'node:crypto';
import { createReadStream, readSync, type BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import mime from 'mime-types';
import {
  checkPreconditions,
  etagOf,
  ifRangeHolds,
  lastModifiedOf,
  parseRange,
  type ByteRange,
  type Validators,
} from '../http/conditional.js';
import { HttpError } from '../http/http-error.js';
import { listChildren, type Child } from '../server/children.js';
import { openForRead, type Scope } from '../server/scope.js';
import type { Dir } from '../access/share-fs.js';
import { checkIfHeader } from './conditions.js';
import { drained, header } from './respond.js';
import { LISTING_CSP, listingEntries, renderHtmlListing, renderJsonListing, wantsJson } from './listing.js';

/** Files up to this size are read in one call and sent with `end()` (no stream set-up). */
const SMALL_FILE = 64 * 1024;
const STREAM_CHUNK = 256 * 1024;

/**
 * GET and HEAD: a file with its validators (strong `ETag`, `Last-Modified`), conditional requests (304,
 * 412), byte ranges read from where they start (206, `multipart/byteranges` for several, 416 when none
 * is satisfiable, `If-Range`); a collection as an HTML or JSON listing.
 */
export async function handleGet(scope: Scope): Promise<void> {
  const opened = await openForRead(scope.core, scope.principal, scope.share, scope.segments);
  if (!opened) throw new HttpError(404, 'not found');
  if (!opened.stats.isDirectory()) return sendFile(scope, opened.handle, opened.stats);
  try {
    await checkIfHeader(scope, undefined);
    await sendListing(scope, { handle: opened.handle, real: opened.realPath });
  } finally {
    await opened.handle.close().catch(() => undefined);
  }
}

async function sendFile(scope: Scope, handle: FileHandle, stats: BigIntStats): Promise<void> {
  let handed = false;
  try {
    const { req, res } = scope;
    const head = scope.method === 'HEAD';
    const size = Number(stats.size);
    const validators: Validators = { etag: etagOf(stats), lastModified: lastModifiedOf(stats) };
    res.setHeader('ETag', validators.etag as string);
    res.setHeader('Last-Modified', (validators.lastModified as Date).toUTCString());
    res.setHeader('Accept-Ranges', 'bytes');
    await checkIfHeader(scope, validators.etag);
    if (checkPreconditions(req.headers, scope.method, validators) === 304) {
      res.statusCode = 304;
      res.end();
      return;
    }
    const type = mime.contentType(scope.segments.at(-1) ?? '') || 'application/octet-stream';
    // Files are data, never pages of this origin (the share may live beside a leaderboard).
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Security-Policy', 'sandbox');
    const ranges = ifRangeHolds(header(req, 'if-range'), validators)
      ? parseRange(header(req, 'range'), size)
      : undefined;
    if (ranges && ranges.length > 1) {
      handed = true;
      return await sendMultipart(scope, handle, ranges, size, type, head);
    }
    const range = ranges?.[0];
    const start = range?.start ?? 0;
    const length = range ? range.end - range.start + 1 : size;
    res.statusCode = range ? 206 : 200;
    if (range) res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    res.setHeader('Content-Type', type);
    res.setHeader('Content-Length', length);
    if (head || length === 0) {
      res.end();
      return;
    }
    if (length <= SMALL_FILE) {
      const buffer = Buffer.allocUnsafe(length);
      // One synchronous read (at most SMALL_FILE bytes, from the page cache as a rule) instead of a
      // thread-pool round trip: small files are most of a listing's downloads.
      const bytesRead = readSync(handle.fd, buffer, 0, length, start);
      res.end(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
      return;
    }
    handed = true;
    const stream = handle.createReadStream({ start, end: start + length - 1, highWaterMark: STREAM_CHUNK });
    await pipeline(stream, res).catch(() => {
      // The client went away: the stream and the file were closed by the pipeline.
    });
  } finally {
    if (!handed) await handle.close().catch(() => undefined);
  }
}

async function sendMultipart(
  scope: Scope,
  handle: FileHandle,
  ranges: readonly ByteRange[],
  size: number,
  type: string,
  head: boolean,
): Promise<void> {
  const { res } = scope;
  try {
    const boundary = randomBytes(12).toString('hex');
    const heads = ranges.map(
      (range, index) =>
        `${index === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: ${type}\r\nContent-Range: bytes ${range.start}-${range.end}/${size}\r\n\r\n`,
    );
    const tail = `\r\n--${boundary}--\r\n`;
    const length =
      heads.reduce((sum, text) => sum + Buffer.byteLength(text), 0) +
      ranges.reduce((sum, range) => sum + range.end - range.start + 1, 0) +
      tail.length;
    res.statusCode = 206;
    res.setHeader('Content-Type', `multipart/byteranges; boundary=${boundary}`);
    res.setHeader('Content-Length', length);
    if (head) {
      res.end();
      return;
    }
    for (const [index, range] of ranges.entries()) {
      if (!res.write(heads[index])) await drained(res);
      const stream = createReadStream('', {
        fd: handle.fd,
        start: range.start,
        end: range.end,
        autoClose: false,
      });
      await pipeline(stream, res, { end: false });
    }
    res.end(tail);
  } catch {
    res.destroy();
  } finally {
    await handle.close().catch(() => undefined);
  }
}

async function sendListing(scope: Scope, folder: Dir): Promise<void> {
  const { res } = scope;
  if (!scope.share.settings.listing) throw new HttpError(403, 'listings are off for this share');
  const children: Child[] = [];
  for await (const batch of listChildren(scope.core, scope.principal, scope.share, scope.segments, folder))
    children.push(...batch);
  const urlSegments = [...scope.base, ...scope.share.settings.segments, ...scope.segments];
  const entries = listingEntries(children);
  const json = wantsJson(header(scope.req, 'accept'));
  const body = json
    ? renderJsonListing(urlSegments, entries)
    : renderHtmlListing(urlSegments, entries, urlSegments.length > scope.base.length);
  res.statusCode = 200;
  res.setHeader('Content-Type', json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('Vary', 'Accept');
  if (!json) res.setHeader('Content-Security-Policy', LISTING_CSP);
  res.end(scope.method === 'HEAD' ? undefined : body);
}
