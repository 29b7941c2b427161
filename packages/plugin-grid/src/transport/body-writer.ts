import type { FileHandle } from 'node:fs/promises';
import type { StreamHasher } from '../checksums/hash-worker.js';
import { GridError } from '../errors/grid-error.js';
import type { RateLimiter } from '../schedule/rate-limiter.js';

/** Body bytes are gathered into shared buffers of this size; each full one is one write and one hash call. */
const SLOT_BYTES = 2 * 1024 * 1024;
/** Buffers per transfer: one filling while the others are being written and hashed. */
const SLOTS = 3;

/** How to consume one response body into a `.part` file. */
export interface PumpOptions {
  readonly fh: FileHandle;
  /** File offset of the first body byte. */
  readonly position: number;
  /** Exact body length when known; more bytes than this is a protocol error. */
  readonly expected?: number;
  readonly hasher?: StreamHasher;
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

interface Slot {
  readonly buf: Buffer;
  /** Settles when the slot's last write and hash are done (the slot may be refilled). */
  busy: Promise<void>;
}

/**
 * Streams a body into the file at `position`. Chunks are copied into a few SharedArrayBuffer slots;
 * a full slot is written with one positional write (libuv thread pool) and hashed by the hash worker
 * at the same time, in order, while the next slot fills, so the event loop only parses and copies.
 * Checkpoints (fdatasync + the caller's state update) run in the background, so the disk flushes
 * while the network keeps delivering. On any error the bytes already received are still written and
 * hashed, so the file and the hasher agree and a resume can continue from the file's end.
 * Returns the number of body bytes.
 */
export async function pumpBody(body: AsyncIterable<Buffer>, o: PumpOptions): Promise<number> {
  const slots: Slot[] = Array.from({ length: SLOTS }, () => ({ buf: Buffer.from(new SharedArrayBuffer(SLOT_BYTES)), busy: Promise.resolve() }));
  let cur = 0;
  let fill = 0;
  /** File offset where the current slot's data goes. */
  let pos = o.position;
  let received = 0;
  let sinceCheckpoint = 0;
  const checkpointEvery = o.checkpointBytes ?? Number.POSITIVE_INFINITY;
  let checkpointing: Promise<void> | undefined;
  let checkpointError: unknown;

  /** Hands the current slot to the writer and the hasher, then waits until the next slot is free. */
  const dispatch = async (): Promise<void> => {
    if (fill > 0) {
      const data = slots[cur]!.buf.subarray(0, fill);
      const at = pos;
      pos += fill;
      fill = 0;
      const busy = Promise.all([writeAll(o.fh, data, at), o.hasher?.update(data)]).then(() => undefined);
      // Observed when the slot comes round again or at the end; this only avoids an unhandled rejection.
      busy.catch(() => undefined);
      slots[cur]!.busy = busy;
      cur = (cur + 1) % SLOTS;
    }
    await slots[cur]!.busy;
  };

  const allSettled = (): Promise<void> => Promise.all(slots.map((s) => s.busy)).then(() => undefined);

  /** fdatasync of everything dispatched so far, then the caller's state update, off the hot path. */
  const startCheckpoint = (): void => {
    const durable = pos - o.position;
    const writes = allSettled();
    checkpointing = (async () => {
      await writes;
      await o.fh.datasync();
      await o.checkpoint!(durable);
    })()
      .catch((e: unknown) => {
        checkpointError ??= e;
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
      for (let off = 0; off < chunk.length; ) {
        const n = chunk.copy(slots[cur]!.buf, fill, off);
        fill += n;
        off += n;
        if (fill === SLOT_BYTES) await dispatch();
      }
      o.onData(chunk.length);
      if (o.rate) await o.rate.take(chunk.length, o.signal);
      sinceCheckpoint += chunk.length;
      if (o.checkpoint && sinceCheckpoint >= checkpointEvery && checkpointing === undefined) {
        sinceCheckpoint = 0;
        await dispatch();
        startCheckpoint();
      }
    }
    await dispatch();
    await allSettled();
    await checkpointing;
    if (checkpointError !== undefined) throw checkpointError;
  } catch (e) {
    // Keep what arrived: write and hash it, so the file and the hasher agree.
    // (Errors here are secondary: the original error is the one worth reporting.)
    await dispatch().catch(() => undefined);
    await Promise.allSettled(slots.map((s) => s.busy));
    await checkpointing;
    throw e;
  }
  return received;
}

async function writeAll(fh: FileHandle, data: Buffer, at: number): Promise<void> {
  let off = 0;
  // A short write is rare on regular files but legal; continue where it stopped.
  while (off < data.length) {
    const r = await fh.write(data, off, data.length - off, at + off);
    off += r.bytesWritten;
  }
}
