import { randomBytes } from 'node:crypto';
import { createReadStream, read, readSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
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
import type { FdDir, OpenedRead } from '../access/share-fs.js';
import { checkIfHeader } from './conditions.js';
import { contentTypeOf } from './properties.js';
import { drained, header } from './respond.js';
import { LISTING_CSP, listingEntries, renderHtmlListing, renderJsonListing, wantsJson } from './listing.js';

/** Files up to this size are read in one call and sent with `end()` (no stream set-up). */
const SMALL_FILE = 64 * 1024;
/** Larger ones are read in chunks of this size into buffers reused for the whole download. */
const STREAM_CHUNK = 512 * 1024;
/**
 * How many chunks of one download may be read ahead of the socket: the download's memory bound
 * (1.5 MiB; 200 concurrent downloads of large files hold 300 MiB of buffers).
 */
const STREAM_BUFFERS = 3;

/**
 * GET and HEAD: a file with its validators (strong `ETag`, `Last-Modified`), conditional requests (304,
 * 412), byte ranges read from where they start (206, `multipart/byteranges` for several, 416 when none
 * is satisfiable, `If-Range`); a collection as an HTML or JSON listing.
 */
export async function handleGet(scope: Scope): Promise<void> {
  const opened = openForRead(scope.core, scope.principal, scope.share, scope.segments);
  if (!opened) throw new HttpError(404, 'not found');
  try {
    if (!opened.stats.isDirectory()) return await sendFile(scope, opened);
    checkIfHeader(scope, undefined);
    await sendListing(scope, { fd: opened.fd, real: opened.realPath });
  } finally {
    opened.close();
  }
}

/** Reads up to `length` bytes at `position` through the thread pool (no `FileHandle`). */
function readAt(fd: number, buffer: Buffer, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buffer, 0, length, position, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead)));
  });
}

/**
 * Sends `length` bytes of a file from `start`: chunks read into a few buffers reused for the whole
 * download (so its memory stays at `STREAM_BUFFERS` chunks however large the file, and the garbage
 * collector has nothing to do), the next chunk read while the socket sends the previous ones. A buffer
 * is read into again only once the socket has taken it (its write's callback). Returns when everything
 * was handed to the socket or the client went away; never leaves a read in flight (the caller closes
 * the descriptor after it).
 */
async function sendRange(res: ServerResponse, fd: number, start: number, length: number): Promise<void> {
  const size = Math.min(STREAM_CHUNK, length);
  let gone = res.destroyed;
  let wake: (() => void) | undefined;
  const onClose = (): void => {
    gone = true;
    wake?.();
  };
  res.once('close', onClose);
  // Allocated when first needed: a file of two chunks never gets a third buffer.
  const slots = Array.from({ length: STREAM_BUFFERS }, () => ({
    buffer: undefined as Buffer | undefined,
    busy: false,
  }));
  const free = (slot: { busy: boolean }): Promise<void> =>
    new Promise<void>((resolve) => {
      if (!slot.busy || gone) return resolve();
      wake = resolve;
    });
  try {
    let position = start;
    let left = length;
    for (let index = 0; left > 0 && !gone; index = (index + 1) % STREAM_BUFFERS) {
      const slot = slots[index] as (typeof slots)[number];
      while (slot.busy && !gone) await free(slot);
      if (gone) break;
      slot.buffer ??= Buffer.allocUnsafeSlow(size);
      const buffer = slot.buffer;
      const bytesRead = await readAt(fd, buffer, Math.min(size, left), position);
      if (gone) break;
      if (bytesRead === 0) {
        // The file shrank under the download: the promised length cannot be sent.
        res.destroy();
        break;
      }
      position += bytesRead;
      left -= bytesRead;
      slot.busy = true;
      const chunk = bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      const done = (): void => {
        slot.busy = false;
        wake?.();
      };
      if (left === 0) res.end(chunk, done);
      else res.write(chunk, done);
    }
  } finally {
    res.off('close', onClose);
  }
}

/** Small files are read into slices of slabs of this size (`Buffer.allocUnsafe` pools only below 4 KiB). */
const SLAB = 1024 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB);
let slabUsed = 0;

/**
 * A buffer of `length` (at most SMALL_FILE) bytes: a slice of the current slab, which is never handed
 * out twice (a slice may still be queued on a socket); a full slab is left to the garbage collector with
 * its last slice, as Node's own pool does. One allocation per many small files instead of one each.
 */
function smallBuffer(length: number): Buffer {
  if (slabUsed + length > SLAB) {
    slab = Buffer.allocUnsafeSlow(SLAB);
    slabUsed = 0;
  }
  const buffer = slab.subarray(slabUsed, slabUsed + length);
  // Slices start on 8-byte boundaries, as the pool's do.
  slabUsed += (length + 7) & ~7;
  return buffer;
}

let lastDate = Number.NaN;
let lastDateText = '';

/** `Date.toUTCString()`, remembering the last one (the files a client fetches share their mtimes). */
function httpDateOf(date: Date): string {
  const time = date.getTime();
  if (time !== lastDate) {
    lastDateText = date.toUTCString();
    lastDate = time;
  }
  return lastDateText;
}

async function sendFile(scope: Scope, opened: OpenedRead): Promise<void> {
  const { fd, stats } = opened;
  const { req, res } = scope;
  const head = scope.method === 'HEAD';
  const size = Number(stats.size);
  const validators: Validators = { etag: etagOf(stats), lastModified: lastModifiedOf(stats) };
  res.setHeader('ETag', validators.etag as string);
  res.setHeader('Last-Modified', httpDateOf(validators.lastModified as Date));
  res.setHeader('Accept-Ranges', 'bytes');
  checkIfHeader(scope, validators.etag);
  if (checkPreconditions(req.headers, scope.method, validators) === 304) {
    res.statusCode = 304;
    res.end();
    return;
  }
  const type = contentTypeOf(scope.segments.at(-1) ?? '');
  // Files are data, never pages of this origin (the share may live beside a leaderboard).
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Security-Policy', 'sandbox');
  const ranges = ifRangeHolds(header(req, 'if-range'), validators)
    ? parseRange(header(req, 'range'), size)
    : undefined;
  if (ranges && ranges.length > 1) return await sendMultipart(scope, fd, ranges, size, type, head);
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
    const buffer = smallBuffer(length);
    // One synchronous read (at most SMALL_FILE bytes, from the page cache as a rule) instead of a
    // thread-pool round trip: small files are most of a listing's downloads.
    const bytesRead = readSync(fd, buffer, 0, length, start);
    if (bytesRead < length) res.destroy();
    else res.end(buffer);
    return;
  }
  await sendRange(res, fd, start, length);
}

async function sendMultipart(
  scope: Scope,
  fd: number,
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
        fd,
        start: range.start,
        end: range.end,
        autoClose: false,
      });
      await pipeline(stream, res, { end: false });
    }
    res.end(tail);
  } catch {
    res.destroy();
  }
}

async function sendListing(scope: Scope, folder: FdDir): Promise<void> {
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
