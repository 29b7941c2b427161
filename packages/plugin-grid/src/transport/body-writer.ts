import type { FileHandle } from 'node:fs/promises';
import type { MultiHasher } from '../checksums/multi-hasher.js';
import { GridError } from '../errors/grid-error.js';
import type { RateLimiter } from '../schedule/rate-limiter.js';

/** Write in batches of this many bytes: one pwritev per few MiB instead of one write per socket read. */
const WRITE_BATCH = 4 * 1024 * 1024;
/** Stay well under IOV_MAX (1024) when a slow link delivers tiny chunks. */
const MAX_IOVECS = 256;

/** How to consume one response body into a `.part` file. */
export interface PumpOptions {
  readonly fh: FileHandle;
  /** File offset of the first body byte. */
  readonly position: number;
  /** Exact body length when known; more bytes than this is a protocol error. */
  readonly expected?: number;
  readonly hasher?: MultiHasher;
  readonly onData: (bytes: number) => void;
  readonly rate?: RateLimiter;
  readonly signal?: AbortSignal;
  /** Called with the bytes durably written so far, every `checkpointBytes` (after the writes landed). */
  readonly checkpoint?: (writtenBytes: number) => Promise<void>;
  readonly checkpointBytes?: number;
}

/**
 * Streams a body into the file at `position`: hashes each chunk as it arrives (in order, so no second
 * read), batches chunks into large positional `writev` calls, and keeps one write in flight while the
 * next batch fills, so network reads and disk writes overlap. On any error the bytes already received
 * are still written, so the file and the hasher agree and a resume can continue from the file's end.
 * Returns the number of body bytes.
 */
export async function pumpBody(body: AsyncIterable<Buffer>, o: PumpOptions): Promise<number> {
  let pos = o.position;
  let received = 0;
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let inflight: Promise<void> | undefined;
  let sinceCheckpoint = 0;
  const checkpointEvery = o.checkpointBytes ?? Number.POSITIVE_INFINITY;

  const flush = async (): Promise<void> => {
    if (batchBytes === 0) return;
    const bufs = batch;
    const len = batchBytes;
    const at = pos;
    batch = [];
    batchBytes = 0;
    pos += len;
    if (inflight) await inflight;
    inflight = writeAll(o.fh, bufs, at, len);
    // Observed at the next await; this only keeps an early failure from being reported as unhandled.
    inflight.catch(() => undefined);
  };

  try {
    for await (const chunk of body) {
      received += chunk.length;
      if (o.expected !== undefined && received > o.expected) {
        throw new GridError('GRID_BAD_RESPONSE', `the server sent more than the ${o.expected} bytes it announced`, { retryable: true });
      }
      o.hasher?.update(chunk);
      batch.push(chunk);
      batchBytes += chunk.length;
      o.onData(chunk.length);
      if (batchBytes >= WRITE_BATCH || batch.length >= MAX_IOVECS) await flush();
      if (o.rate) await o.rate.take(chunk.length, o.signal);
      sinceCheckpoint += chunk.length;
      if (o.checkpoint && sinceCheckpoint >= checkpointEvery) {
        sinceCheckpoint = 0;
        await flush();
        await inflight;
        await o.checkpoint(pos - o.position);
      }
    }
    await flush();
    await inflight;
  } catch (e) {
    // Keep what arrived: the hasher has seen it, so the file must hold it too.
    try {
      await flush();
      await inflight;
    } catch {
      // The original error is the one worth reporting.
    }
    throw e;
  }
  return received;
}

async function writeAll(fh: FileHandle, bufs: Buffer[], at: number, len: number): Promise<void> {
  const { bytesWritten } = await fh.writev(bufs, at);
  if (bytesWritten === len) return;
  // A short write is rare on regular files but legal; finish with plain writes.
  const rest = Buffer.concat(bufs).subarray(bytesWritten);
  let off = 0;
  while (off < rest.length) {
    const r = await fh.write(rest, off, rest.length - off, at + bytesWritten + off);
    off += r.bytesWritten;
  }
}
