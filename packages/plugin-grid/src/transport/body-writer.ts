import type { FileHandle } from 'node:fs/promises';
import type { FileHasher } from '../checksums/hash-worker.js';
import { GridError } from '../errors/grid-error.js';
import type { RateLimiter } from '../schedule/rate-limiter.js';
import { BatchPool, type Batch } from './batch-pool.js';
import type { BodySink } from './http1/body-sink.js';
import type { ResponseBody } from './http1/client.js';

/** Write in batches of this many bytes: one `pwrite` per few MiB instead of one per socket read. */
const WRITE_BATCH = 4 * 1024 * 1024;
/** Batches written or hashed at once per body; reading pauses beyond (the disk or the hashing is behind). */
const IN_FLIGHT = 2;

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
  /** Bytes gathered before one positional write. Default 4 MiB. */
  readonly batchBytes?: number;
  /** Where the batch buffers come from (the job's pool); default a pool of this body's own. */
  readonly buffers?: BatchPool;
  /** Called after each batch is written (not yet fsynced) with the body bytes written so far. */
  readonly onWritten?: (writtenBytes: number) => void;
  readonly rate?: RateLimiter;
  readonly signal?: AbortSignal;
  /**
   * Called with the number of body bytes that are durable (written and fdatasync'ed by the pump), about
   * every `checkpointBytes`. Runs in the background, one at a time; the pump waits for it before returning.
   */
  readonly checkpoint?: (durableBytes: number) => Promise<void>;
  readonly checkpointBytes?: number;
}

/**
 * Streams a response body into the file at `position`: socket reads land directly in batch buffers
 * (no copy), each full batch is written with one positional write and then hashed from the same
 * memory by the job's hash worker. Returns the number of body bytes. On any error the bytes already
 * received are still written and hashed, so the file and the hasher agree and a resume can continue
 * from the file's end.
 */
export async function pumpResponse(body: ResponseBody, o: PumpOptions): Promise<number> {
  const writer = new BodyWriter(o);
  try {
    await body.pipeTo(writer);
  } catch (e) {
    await writer.close();
    throw e;
  }
  return writer.finish();
}

/** {@link pumpResponse} for a body given as chunks (copied into the batches). */
export async function pumpBody(body: AsyncIterable<Uint8Array>, o: PumpOptions): Promise<number> {
  const writer = new BodyWriter(o);
  try {
    for await (const chunk of body) await writer.write(chunk);
  } catch (e) {
    await writer.close();
    throw e;
  }
  return writer.finish();
}

/**
 * The {@link BodySink} of one body. Background work (writes, hashing, a checkpoint) is held in promises
 * that never reject: each records its error in `failure`, which every call checks, so no failure can
 * surface as an unhandled rejection, and every promise is awaited before the pump returns or throws.
 * One write is in flight at a time (positional, in order); a written batch is hashed while the next is
 * written, and returns to the pool once hashed. Checkpoints (fdatasync + the caller's state update)
 * run in the background, so the disk flushes while the network keeps delivering.
 */
class BodyWriter implements BodySink {
  private readonly pool: BatchPool;
  private readonly batchLimit: number;
  private readonly checkpointEvery: number;
  private current: Batch | undefined;
  private fill = 0;
  private received = 0;
  /** Body bytes handed to writes (the next batch starts at `position + queued`). */
  private queued = 0;
  private written = 0;
  private sinceCheckpoint = 0;
  /** Batches submitted and not yet back in the pool. */
  private inFlight = 0;
  private slotFreed: (() => void) | undefined;
  private writing: Promise<void> = Promise.resolve();
  private hashing: Promise<void> = Promise.resolve();
  private checkpointing: Promise<void> | undefined;
  private failure: { error: unknown } | undefined;

  constructor(private readonly o: PumpOptions) {
    if (o.hasher && o.hasher.start + o.hasher.length !== o.position) {
      throw new Error(
        `pumpBody: the hasher is at ${o.hasher.start + o.hasher.length}, the body starts at ${o.position}`,
      );
    }
    this.pool = o.buffers ?? new BatchPool();
    this.batchLimit = o.batchBytes ?? WRITE_BATCH;
    this.checkpointEvery = o.checkpoint
      ? (o.checkpointBytes ?? Number.POSITIVE_INFINITY)
      : Number.POSITIVE_INFINITY;
  }

  space(max: number): Uint8Array | undefined {
    if (this.failure) return undefined;
    if (!this.current) {
      if (this.inFlight >= IN_FLIGHT) return undefined;
      this.current = this.pool.take(this.batchLimit);
      this.fill = 0;
    }
    const n = Math.min(this.batchLimit - this.fill, max);
    return this.current.bytes.subarray(this.fill, this.fill + n);
  }

  commit(n: number): Promise<void> | undefined {
    this.accept(n);
    this.fill += n;
    return this.afterBytes(n);
  }

  write(data: Uint8Array): Promise<void> | undefined {
    this.accept(data.length);
    for (let off = 0; off < data.length;) {
      // A copy never waits: it may take a buffer beyond the in-flight limit (the next call waits).
      if (!this.current) {
        this.current = this.pool.take(this.batchLimit);
        this.fill = 0;
      }
      const n = Math.min(this.batchLimit - this.fill, data.length - off);
      this.current.bytes.set(data.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill >= this.batchLimit) this.submit();
    }
    return this.afterBytes(data.length);
  }

  /** Waits for every write, hash and checkpoint; the body's length, or the first failure. */
  async finish(): Promise<number> {
    this.submit();
    await this.settle();
    if (this.failure) throw this.failure.error;
    return this.received;
  }

  /**
   * After a failed body: writes and hashes what arrived, so the file and the hasher agree. A failure of
   * this clean-up is secondary (the original error is the one worth reporting), so it never throws.
   */
  async close(): Promise<void> {
    this.submit();
    await this.settle();
  }

  private accept(n: number): void {
    if (this.failure) throw this.failure.error;
    this.received += n;
    if (this.o.expected !== undefined && this.received > this.o.expected) {
      throw new GridError(
        'GRID_BAD_RESPONSE',
        `the server sent more than the ${this.o.expected} bytes it announced`,
        { retryable: true },
      );
    }
    this.sinceCheckpoint += n;
    this.o.onData(n);
  }

  /** What follows new bytes: a full batch is written, a checkpoint started; a promise when reading must wait. */
  private afterBytes(n: number): Promise<void> | undefined {
    if (this.fill >= this.batchLimit) this.submit();
    if (this.sinceCheckpoint >= this.checkpointEvery && this.checkpointing === undefined) {
      this.submit();
      this.startCheckpoint();
    }
    const waits: Promise<void>[] = [];
    if (this.o.rate) waits.push(this.o.rate.take(n, this.o.signal));
    if (!this.current && this.inFlight >= IN_FLIGHT) waits.push(this.slot());
    if (waits.length === 0) return undefined;
    return Promise.all(waits).then(() => {
      if (this.failure) throw this.failure.error;
    });
  }

  /** Queues the batch being filled for writing (after the write before it), then for hashing. */
  private submit(): void {
    const batch = this.current;
    if (!batch) return;
    const len = this.fill;
    this.current = undefined;
    this.fill = 0;
    if (len === 0) {
      this.pool.give(batch);
      return;
    }
    const at = this.o.position + this.queued;
    this.queued += len;
    this.inFlight++;
    this.writing = this.writing.then(() => this.writeBatch(batch, at, len));
  }

  /** Writes one batch, then hands it to the hasher; never rejects. */
  private async writeBatch(batch: Batch, at: number, len: number): Promise<void> {
    if (!this.failure) {
      try {
        await writeAll(this.o.fh, batch.bytes, at, len);
        this.written += len;
        this.o.onWritten?.(this.written);
        if (this.o.hasher) {
          // Hashed after the write succeeded: the hasher never gets ahead of the file.
          this.hashing = this.o.hasher.addBatch(batch, len).then(
            () => this.release(batch),
            (e: unknown) => {
              this.fail(e);
              this.release(batch);
            },
          );
          return;
        }
      } catch (e) {
        this.fail(e);
      }
    }
    this.release(batch);
  }

  private release(batch: Batch): void {
    this.pool.give(batch);
    this.inFlight--;
    const freed = this.slotFreed;
    this.slotFreed = undefined;
    freed?.();
  }

  private slot(): Promise<void> {
    return new Promise((resolve) => {
      const prev = this.slotFreed;
      this.slotFreed = () => {
        prev?.();
        resolve();
      };
    });
  }

  /** fdatasync of everything queued so far once it is written, then the caller's state update. */
  private startCheckpoint(): void {
    this.sinceCheckpoint = 0;
    const durable = this.queued;
    const written = this.writing;
    this.checkpointing = (async () => {
      await written;
      if (this.failure) return;
      await this.o.fh.datasync();
      await this.o.checkpoint!(durable);
    })()
      .catch((e: unknown) => this.fail(e))
      .finally(() => {
        this.checkpointing = undefined;
      });
  }

  /** Waits for the writes, the hashing and a running checkpoint (none of which rejects). */
  private async settle(): Promise<void> {
    await this.writing;
    // Hash requests complete in order, so the last one settling means all have.
    await this.hashing;
    await this.checkpointing;
  }

  private fail(error: unknown): void {
    this.failure ??= { error };
  }
}

async function writeAll(fh: FileHandle, bytes: Buffer, at: number, len: number): Promise<void> {
  // A short write is rare on regular files but legal: continue where it stopped.
  for (let off = 0; off < len;) {
    const { bytesWritten } = await fh.write(bytes, off, len - off, at + off);
    if (bytesWritten === 0) throw new Error(`write of ${len - off} bytes at ${at + off} wrote nothing`);
    off += bytesWritten;
  }
}
