import { open, stat, type FileHandle } from 'node:fs/promises';
import type { Dispatcher } from 'undici';
import { adler32Combine, formatAdler32 } from '../checksums/adler32.js';
import type { ChecksumAlgorithm, Checksums } from '../checksums/checksum-format.js';
import { hashExisting, type FileHasher, type HasherFactory } from '../checksums/hash-worker.js';
import { GridError } from '../errors/grid-error.js';
import { partPaths, readPartState, removePart, writePartState, type PartSegment, type PartState } from '../files/part-file.js';
import { parseRetryAfter } from '../schedule/backoff.js';
import type { RateLimiter } from '../schedule/rate-limiter.js';
import { pumpBody } from './body-writer.js';
import { statusError, toGridError } from './failure.js';
import { headerValue, parseContentRange, redactUrl, strongEtag } from './http-headers.js';
import type { HeadInfo, HttpTransport } from './http-transport.js';
import { StallWatch, type StallOptions } from './stall-watch.js';

/** Everything one attempt at one HTTP replica needs. */
export interface HttpAttemptOptions {
  readonly transport: HttpTransport;
  /** http(s) URL of the replica. */
  readonly url: string;
  /** Final destination path (the `.part` sits beside it). */
  readonly dest: string;
  /** Expected size, when the catalogue knows it. */
  readonly size: number | undefined;
  readonly expected: Checksums;
  /** Algorithms to compute. */
  readonly algorithms: ReadonlySet<ChecksumAlgorithm>;
  /** Range segments for one large file (1 = single stream). */
  readonly segments: number;
  /** Only files at least this large are segmented. */
  readonly segmentMinSize: number;
  /** Authorization headers, fetched before each request (tokens rotate). */
  readonly authHeaders: () => Promise<Record<string, string>>;
  readonly signal: AbortSignal;
  /** Newly received bytes (progress). */
  readonly onData: (bytes: number) => void;
  /** Bytes taken over from an earlier `.part` (progress starts there). */
  readonly onResume: (offset: number, note: string) => void;
  /** Notable decisions (restart from zero, server ignored Range). */
  readonly onLog: (text: string) => void;
  readonly rate: RateLimiter | undefined;
  readonly stall: StallOptions;
  /** fsync + state update every this many bytes. */
  readonly checkpointBytes: number;
  /** Makes the stream hashers (normally in the job's hash worker). */
  readonly newHasher: HasherFactory;
  /** A hasher carried over from the previous attempt of the same file in this process (saves a re-read). */
  readonly carry: { hasher?: FileHasher | undefined };
}

/** The result of a complete attempt: the `.part` holds `size` bytes, fsynced, with these checksums. */
export interface HttpAttemptResult {
  size: number;
  checksums: Checksums;
  /** Checksums the server reported (validated; only for algorithms we asked for). */
  serverDigests: Checksums;
}

/**
 * Downloads one replica into `<dest>.part`, resuming what is there when it is provably the same
 * content: same size and either the same replica with an unchanged validator (`If-Range` with a strong
 * ETag or Last-Modified), or expected checksums that will catch any difference. Every partial response
 * is checked (status, Content-Range start/end/total, byte count) before a byte is written.
 */
export async function downloadHttp(o: HttpAttemptOptions): Promise<HttpAttemptResult> {
  const where = redactUrl(o.url);
  const paths = partPaths(o.dest);
  const hasExpected = Object.keys(o.expected).length > 0;
  let state = await readPartState(paths.state);
  const partSize = await stat(paths.part).then((s) => s.size, () => undefined);
  if (state && (partSize === undefined || (o.size !== undefined && state.size !== o.size) || (state.url !== where && !hasExpected))) {
    o.onLog(`discarding ${paths.part}: it belongs to another replica or size and no checksum can vouch for it`);
    await removePart(o.dest);
    state = undefined;
    o.carry.hasher = undefined;
  } else if (!state && partSize !== undefined) {
    // A .part without state cannot be trusted (no validators): start over.
    await removePart(o.dest);
  }

  const resumable = state !== undefined;
  // HEAD when we lack the size (needed for closed ranges and segments) or any checksum to verify.
  let head: HeadInfo | undefined;
  const wantSegments = o.segments > 1;
  if (o.size === undefined || !hasExpected || (wantSegments && !state)) {
    // Storage answers Want-Digest for adler32 and md5; SHA-256 is ours to compute for the artifact record.
    const ask = (['adler32', 'md5'] as const).filter((a) => o.algorithms.has(a));
    head = await o.transport.head(o.url, await o.authHeaders(), ask, o.signal);
  }
  const size = o.size ?? state?.size ?? head?.size;
  if (o.size !== undefined && head?.size !== undefined && head.size !== o.size) {
    throw new GridError('GRID_SIZE_MISMATCH', `${where}: the replica has ${head.size} bytes, the catalogue says ${o.size}`, { retryable: true });
  }

  const segmented =
    wantSegments && size !== undefined && size >= o.segmentMinSize && (state ? state.segments.length > 1 : head?.acceptRanges === true);
  if (!state) {
    state = {
      version: 1,
      url: where,
      size,
      etag: head?.etag,
      lastModified: head?.lastModified,
      expected: o.expected,
      segments: segmented ? splitSegments(size, o.segments) : [{ start: 0, end: size, done: 0 }],
    };
  } else if (state.url !== where) {
    // Resuming from another replica of the same content: its validators mean nothing here.
    state = { ...state, url: where, etag: undefined, lastModified: undefined };
  }
  await writePartState(paths.state, state);

  const fh = await open(paths.part, resumable ? 'r+' : 'w+');
  try {
    const result =
      state.segments.length > 1
        ? await downloadSegmented(o, fh, state, paths.state)
        : await downloadSingle(o, fh, state, paths.part, paths.state);
    await fh.datasync();
    return { ...result, serverDigests: head?.digests ?? {} };
  } finally {
    await fh.close();
  }
}

/** Equal segments (the last takes the remainder). */
export function splitSegments(size: number, n: number): PartSegment[] {
  const len = Math.ceil(size / n);
  const out: PartSegment[] = [];
  for (let start = 0; start < size; start += len) out.push({ start, end: Math.min(size, start + len), done: 0 });
  return out;
}

async function downloadSingle(
  o: HttpAttemptOptions,
  fh: FileHandle,
  state: PartState,
  partPath: string,
  statePath: string,
): Promise<{ size: number; checksums: Checksums }> {
  const where = redactUrl(o.url);
  const size = state.size;
  const seg = state.segments[0]!;
  // The file itself is the truth after kill -9 (the page cache survives a process crash; the final
  // checksum or size check catches anything a power loss could leave).
  let offset = Math.min((await fh.stat()).size, size ?? Number.POSITIVE_INFINITY);
  let hasher = o.carry.hasher;
  if (!hasher || hasher.start !== 0 || hasher.length !== offset) {
    hasher = o.newHasher(partPath, o.algorithms);
    if (offset > 0) {
      await hashExisting(hasher, offset, o.signal);
      o.onResume(offset, `resuming ${where} at byte ${offset} of ${size ?? '?'} (re-hashed the .part prefix)`);
    }
  } else if (offset > 0) {
    o.onResume(offset, `resuming ${where} at byte ${offset} of ${size ?? '?'}`);
  }
  o.carry.hasher = hasher;
  if (size !== undefined && offset === size) return { size, checksums: (await hasher.digest()).checksums };

  const headers: Record<string, string> = { ...(await o.authHeaders()) };
  if (offset > 0) {
    // Closed range when the size is known: old XrdHttp answers `bytes=N-` with an empty 206.
    headers.Range = `bytes=${offset}-${size !== undefined ? size - 1 : ''}`;
    const validator = strongEtag(state.etag) ?? state.lastModified;
    if (validator !== undefined) headers['If-Range'] = validator;
  }
  const attempt = new AttemptSignal(o.signal, where, o.stall);
  try {
    const res = await o.transport.get(o.url, headers, attempt.signal);
    let expectedBody: number | undefined;
    if (res.statusCode === 200) {
      if (offset > 0) {
        o.onLog(`${where} answered the Range request with the whole file: restarting from byte 0`);
        await fh.truncate(0);
        offset = 0;
        hasher = o.newHasher(partPath, o.algorithms);
        o.carry.hasher = hasher;
        o.onResume(0, 'restart');
      }
      const len = contentLength(res);
      if (size !== undefined && len !== undefined && len !== size) {
        await res.body.dump();
        throw new GridError('GRID_SIZE_MISMATCH', `${where}: Content-Length ${len}, expected ${size}`, { retryable: true });
      }
      expectedBody = len ?? size;
      const etag = headerValue(res.headers.etag);
      const lastModified = headerValue(res.headers['last-modified']);
      if (etag !== state.etag || lastModified !== state.lastModified || state.size !== expectedBody) {
        state.etag = etag;
        state.lastModified = lastModified;
        state.size = expectedBody;
        seg.end = expectedBody;
        await writePartState(statePath, state);
      }
    } else if (res.statusCode === 206) {
      expectedBody = await checkPartial(res, where, offset, size);
    } else if (res.statusCode === 416 && size !== undefined && offset === size) {
      await res.body.dump();
      return { size, checksums: (await hasher.digest()).checksums };
    } else {
      await res.body.dump();
      throw statusError(res.statusCode, where, parseRetryAfter(headerValue(res.headers['retry-after'])));
    }
    const received = await pumpBody(res.body, {
      fh,
      position: offset,
      ...(expectedBody !== undefined && { expected: expectedBody }),
      hasher,
      onData: (n) => {
        attempt.add(n);
        o.onData(n);
      },
      ...(o.rate && { rate: o.rate }),
      signal: attempt.signal,
      checkpointBytes: o.checkpointBytes,
      checkpoint: async (durable) => {
        seg.done = offset + durable;
        await writePartState(statePath, state);
      },
    });
    if (expectedBody !== undefined && received < expectedBody) {
      throw new GridError('GRID_CONNECTION_LOST', `${where}: short body, ${received} of ${expectedBody} bytes`, { retryable: true });
    }
    seg.done = offset + received;
    return { size: offset + received, checksums: (await hasher.digest()).checksums };
  } catch (e) {
    throw attempt.explain(e);
  } finally {
    attempt.stop();
  }
}

/**
 * Several Range requests in parallel into one file. Each segment keeps its own adler32 (combined at the
 * end, zlib's adler32_combine); md5 and SHA-256 cannot be combined, so they are computed by reading the
 * assembled file once, in order.
 */
async function downloadSegmented(o: HttpAttemptOptions, fh: FileHandle, state: PartState, statePath: string): Promise<{ size: number; checksums: Checksums }> {
  const where = redactUrl(o.url);
  const size = state.size!;
  const adlerOnly = new Set<ChecksumAlgorithm>(o.algorithms.has('adler32') ? ['adler32'] : []);
  const attempt = new AttemptSignal(o.signal, where, o.stall);
  let stateWrite = Promise.resolve();
  const saveState = (): Promise<void> => (stateWrite = stateWrite.then(() => writePartState(statePath, state)));
  const resumed = state.segments.reduce((n, s) => n + s.done, 0);
  if (resumed > 0) o.onResume(resumed, `resuming ${where}: ${resumed} of ${size} bytes in ${state.segments.length} segments`);
  try {
    const hashers = await Promise.all(
      state.segments.map(async (seg) => {
        const segEnd = seg.end!;
        const hasher = adlerOnly.size > 0 ? o.newHasher(`${o.dest}.part`, adlerOnly, seg.start) : undefined;
        if (hasher && seg.done > 0) await hashExisting(hasher, seg.done, attempt.signal);
        const from = seg.start + seg.done;
        if (from >= segEnd) return hasher;
        const headers: Record<string, string> = { ...(await o.authHeaders()), Range: `bytes=${from}-${segEnd - 1}` };
        const validator = strongEtag(state.etag) ?? state.lastModified;
        if (validator !== undefined) headers['If-Match'] = validator;
        const res = await o.transport.get(o.url, headers, attempt.signal);
        if (res.statusCode !== 206) {
          await res.body.dump();
          if (res.statusCode === 200 || res.statusCode === 412) {
            // The content changed (or Range is ignored): segments cannot be stitched; start over.
            await removePart(o.dest);
            throw new GridError('GRID_BAD_RESPONSE', `${where}: HTTP ${res.statusCode} to a segment request; the .part was discarded`, { retryable: true });
          }
          throw statusError(res.statusCode, where, parseRetryAfter(headerValue(res.headers['retry-after'])));
        }
        const expectedBody = await checkPartial(res, where, from, size, segEnd - 1);
        const base = seg.done;
        const received = await pumpBody(res.body, {
          fh,
          position: from,
          expected: expectedBody,
          ...(hasher && { hasher }),
          onData: (n) => {
            attempt.add(n);
            o.onData(n);
          },
          ...(o.rate && { rate: o.rate }),
          signal: attempt.signal,
          checkpointBytes: o.checkpointBytes,
          checkpoint: async (durable) => {
            seg.done = base + durable;
            await saveState();
          },
        });
        seg.done = base + received;
        if (received < expectedBody) {
          throw new GridError('GRID_CONNECTION_LOST', `${where}: short segment, ${received} of ${expectedBody} bytes`, { retryable: true });
        }
        return hasher;
      }),
    );
    await fh.datasync();
    await saveState();
    const checksums: Checksums = {};
    if (adlerOnly.size > 0) {
      const adlers = (await Promise.all(hashers.map((h) => h!.digest()))).map((d) => d.adler32!);
      let adler = adlers[0]!;
      for (let i = 1; i < adlers.length; i++) {
        const seg = state.segments[i]!;
        adler = adler32Combine(adler, adlers[i]!, seg.end! - seg.start);
      }
      checksums.adler32 = formatAdler32(adler);
    }
    const rest = [...o.algorithms].filter((a) => a !== 'adler32');
    if (rest.length > 0) {
      const seq = o.newHasher(`${o.dest}.part`, new Set(rest));
      await hashExisting(seq, size, o.signal);
      Object.assign(checksums, (await seq.digest()).checksums);
    }
    return { size, checksums };
  } catch (e) {
    // Make sure the other segments stop before the state is read by the next attempt.
    attempt.cancel();
    await fh.datasync().catch(() => undefined);
    await saveState().catch(() => undefined);
    throw attempt.explain(e);
  } finally {
    attempt.stop();
  }
}

/**
 * Validates a 206 against the request: Content-Range start equal to the offset asked for, end equal to
 * the end asked for (or the last byte), total equal to the expected size, Content-Length consistent,
 * and never an empty body. Returns the body length to expect.
 */
async function checkPartial(res: Dispatcher.ResponseData, where: string, start: number, size: number | undefined, end?: number): Promise<number> {
  const raw = headerValue(res.headers['content-range']);
  const cr = parseContentRange(raw);
  const wantEnd = end ?? (size !== undefined ? size - 1 : undefined);
  const problem =
    cr === undefined
      ? `missing or malformed Content-Range "${raw ?? ''}"`
      : cr.start !== start
        ? `Content-Range starts at ${cr.start}, asked for ${start}`
        : wantEnd !== undefined && cr.end !== wantEnd
          ? `Content-Range ends at ${cr.end}, asked for ${wantEnd}`
          : size !== undefined && cr.total !== undefined && cr.total !== size
            ? `Content-Range total ${cr.total}, expected ${size}`
            : undefined;
  const len = contentLength(res);
  const expected = cr ? cr.end - cr.start + 1 : 0;
  const lenProblem = problem === undefined && len !== undefined && len !== expected ? `Content-Length ${len} does not match Content-Range (${expected})` : undefined;
  const empty = problem === undefined && lenProblem === undefined && len === 0 ? 'empty 206 (old XrdHttp answers open-ended ranges this way)' : undefined;
  const why = problem ?? lenProblem ?? empty;
  if (why !== undefined) {
    await res.body.dump();
    throw new GridError('GRID_BAD_RESPONSE', `${where}: invalid partial response: ${why}`, { retryable: true });
  }
  return expected;
}

function contentLength(res: Dispatcher.ResponseData): number | undefined {
  const v = headerValue(res.headers['content-length']);
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** The abort signal of one attempt: the caller's signal plus the stall detector's. */
class AttemptSignal {
  private readonly ctl = new AbortController();
  private readonly watch: StallWatch;
  readonly signal: AbortSignal;

  constructor(
    private readonly outer: AbortSignal,
    where: string,
    stall: StallOptions,
  ) {
    this.signal = AbortSignal.any([outer, this.ctl.signal]);
    this.watch = new StallWatch(stall, (reason) => this.ctl.abort(reason), where);
  }

  add(n: number): void {
    this.watch.add(n);
  }

  cancel(): void {
    if (!this.ctl.signal.aborted) this.ctl.abort(new GridError('GRID_ABORTED', 'segment sibling failed'));
  }

  stop(): void {
    this.watch.stop();
  }

  /** The real reason behind an error thrown while aborting (stall, caller abort) or the error itself. */
  explain(e: unknown): GridError {
    if (this.outer.aborted) return new GridError('GRID_ABORTED', 'download aborted; the .part file is kept for resume', { cause: this.outer.reason });
    const reason: unknown = this.ctl.signal.reason;
    if (this.ctl.signal.aborted && reason instanceof GridError && reason.code === 'GRID_STALLED') return reason;
    if (e instanceof GridError) return e;
    return toGridError(e, 'transfer');
  }
}
