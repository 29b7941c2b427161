import type { FileHandle } from 'node:fs/promises';
import type { FileHasher } from '../checksums/hash-worker.js';
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
  /** Hashes the same file from `position` on (its `start + length` must equal `position`). */
  readonly hasher?: FileHasher;
  readonly onData: (bytes: number) => void;
  readonly rate?: RateLimiter;
  readonly signal?: AbortSignal;
  /**
   * Called with the number of body bytes that are durable (written and fdatasync'ed by the pump), about
   * every `checkpointBytes`. Runs in the background, one at a time; the pump waits for it before returning.
   */
  readonly checkpoint?: (durableBytes: number) => Promise<void>;
  readonly checkpointBytes?: number;
}

const ignore = (): void => undefined;

/**
 * Streams a body into the file at `position`. Chunks are batched into large positional `writev` calls
 * (no copies), with one write in flight while the next batch fills; once a batch is written, the hasher
 * (the job's hash worker) reads it back from the page cache and hashes it, in order, on the other core.
 * Checkpoints (fdatasync + the caller's state update) run in the background, so the disk flushes while
 * the network keeps delivering. On any error the bytes already received are still written and handed
 * to the hasher, so the file and the hasher agree and a resume can continue from the file's end.
 * Returns the number of body bytes.
 */
export async function pumpBody(body: AsyncIterable<Buffer>, o: PumpOptions): Promise<number> {
  if (o.hasher && o.hasher.start + o.hasher.length !== o.position) {
    throw new Error(`pumpBody: the hasher is at ${o.hasher.start + o.hasher.length}, the body starts at ${o.position}`);
  }
  let pos = o.position;
  let received = 0;
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let inflight: Promise<void> = Promise.resolve();
  let hashed: Promise<unknown> = Promise.resolve();
  let sinceCheckpoint = 0;
  const checkpointEvery = o.checkpointBytes ?? Number.POSITIVE_INFINITY;
  let checkpointing: Promise<void> | undefined;
  let checkpointError: Error | undefined;

  /** Starts writing the batch (after the previous write), then hands the written range to the hasher. */
  const flush = async (): Promise<void> => {
    if (batchBytes === 0) return;
    const bufs = batch;
    const len = batchBytes;
    const at = pos;
    batch = [];
    batchBytes = 0;
    pos += len;
    await inflight;
    inflight = writeAll(o.fh, bufs, at, len).then(() => {
      if (!o.hasher) return;
      const h = o.hasher.add(len);
      h.catch(ignore);
      hashed = Promise.all([hashed, h]);
    });
    // Observed at the next flush or at the end; this only keeps an early failure from being unhandled.
    inflight.catch(ignore);
  };

  /** fdatasync of everything written so far, then the caller's state update, off the hot path. */
  const startCheckpoint = (): void => {
    const durable = pos - o.position;
    const written = inflight;
    checkpointing = (async () => {
      await written;
      await o.fh.datasync();
      await o.checkpoint!(durable);
    })()
      .catch((e: unknown) => {
        checkpointError ??= e instanceof Error ? e : new Error(String(e));
      })
      .finally(() => {
        checkpointing = undefined;
      });
  };

  try {
    for await (const chunk of body) {
      if (checkpointError !== undefined) throw checkpointError;
      received += chunk.length;
      if (o.expected !== undefined && received > o.expected) {
        throw new GridError('GRID_BAD_RESPONSE', `the server sent more than the ${o.expected} bytes it announced`, { retryable: true });
      }
      batch.push(chunk);
      batchBytes += chunk.length;
      o.onData(chunk.length);
      if (batchBytes >= WRITE_BATCH || batch.length >= MAX_IOVECS) await flush();
      if (o.rate) await o.rate.take(chunk.length, o.signal);
      sinceCheckpoint += chunk.length;
      if (o.checkpoint && sinceCheckpoint >= checkpointEvery && checkpointing === undefined) {
        sinceCheckpoint = 0;
        await flush();
        startCheckpoint();
      }
    }
    await flush();
    await inflight;
    await hashed;
    await checkpointing;
    if (checkpointError !== undefined) throw checkpointError;
  } catch (e) {
    // Keep what arrived: write it and hand it to the hasher, so the file and the hasher agree.
    // (Errors here are secondary: the original error is the one worth reporting.)
    await flush().catch(ignore);
    await inflight.catch(ignore);
    await hashed.catch(ignore);
    await checkpointing;
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
