import { writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { FileHasher } from '../checksums/hash-worker.js';
import { GridError } from '../errors/grid-error.js';
import type { RateLimiter } from '../schedule/rate-limiter.js';
import { BatchPool, type Batch } from './batch-pool.js';
import type { BodySink } from './http1/body-sink.js';
import type { ResponseBody } from './http1/client.js';

/**
 * Batch buffers of this many bytes: the unit of hashing (and of the `onWritten` progress report).
 * Measured: 1 MiB as fast as 256 KiB and clearly faster than 4 MiB with eight streams (the buffers a
 * job cycles through then stay in the CPU's last-level cache, where socket reads land).
 */
const WRITE_BATCH = 1024 * 1024;
/** Batches being hashed at once per body; reading pauses beyond (the hashing is behind). */
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
  /** Bytes per batch buffer: the unit of hashing and of `onWritten`. Default 1 MiB. */
  readonly batchBytes?: number;
  /** Where the batch buffers come from (the job's pool); default a pool of this body's own. */
  readonly buffers?: BatchPool;
  /** Called after each full batch is written (not yet fsynced) with the body bytes written so far. */
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
 * Streams a response body into the file at `position`: socket reads land directly in a batch buffer
 * (no copy) and are written at once, synchronously, while the bytes are still in the CPU's cache
 * (measured: about half the kernel time of handing large batches to libuv's thread pool, where the
 * copy into the page cache reads them back from memory on another core; curl and aria2 write the
 * same way). Each full batch is then hashed from the same memory by the job's hash worker. Returns
 * the number of body bytes. On any error the bytes already received are written and hashed, so the
 * file and the hasher agree and a resume can continue from the file's end.
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

/** {@link pumpResponse} for a body given as chunks. */
export async function pumpBody(
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  o: PumpOptions,
): Promise<number> {
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
 * The {@link BodySink} of one body. Bytes are written as they arrive (positional `writeSync`: a write
 * error fails the body at once); the batch buffer they were read into goes to the hasher when full and
 * returns to the pool once hashed. Background work (hashing, a checkpoint) is held in promises that
 * never reject: each records its error in `failure`, which every call checks, so no failure can surface
 * as an unhandled rejection, and every promise is awaited before the pump returns or throws.
 * Checkpoints (fdatasync + the caller's state update) run in the background, so the disk flushes while
 * the network keeps delivering.
 */
class BodyWriter implements BodySink {
  private readonly pool: BatchPool;
  private readonly batchLimit: number;
  private readonly checkpointEvery: number;
  private current: Batch | undefined;
  private fill = 0;
  private received = 0;
  /** Body bytes written (the next byte goes to `position + written`). */
  private written = 0;
  private sinceCheckpoint = 0;
  /** Batches handed to the hasher and not yet back in the pool. */
  private inFlight = 0;
  private slotFreed: (() => void) | undefined;
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
    this.writeOut(this.current!.bytes, this.fill, n);
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
      this.writeOut(this.current.bytes, this.fill, n);
      this.fill += n;
      off += n;
      if (this.fill >= this.batchLimit) this.submit();
    }
    return this.afterBytes(data.length);
  }

  /** Waits for the hashing and a running checkpoint; the body's length, or the first failure. */
  async finish(): Promise<number> {
    this.submit();
    await this.settle();
    if (this.failure) throw this.failure.error;
    return this.received;
  }

  /**
   * After a failed body: hashes what was written, so the file and the hasher agree. A failure of this
   * clean-up is secondary (the original error is the one worth reporting), so it never throws.
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

  /** Writes bytes of the current batch at the file's next position; a failure fails the body. */
  private writeOut(bytes: Buffer, offset: number, length: number): void {
    const at = this.o.position + this.written;
    try {
      for (let done = 0; done < length;) {
        // A short write is rare on regular files but legal: continue where it stopped.
        const n = writeSync(this.o.fh.fd, bytes, offset + done, length - done, at + done);
        if (n === 0) throw new Error(`write of ${length - done} bytes at ${at + done} wrote nothing`);
        done += n;
      }
    } catch (e) {
      this.fail(e);
      throw e;
    }
    this.written += length;
  }

  /** What follows new bytes: a full batch is hashed, a checkpoint started; a promise when reading must wait. */
  private afterBytes(n: number): Promise<void> | undefined {
    if (this.fill >= this.batchLimit) this.submit();
    if (this.sinceCheckpoint >= this.checkpointEvery && this.checkpointing === undefined)
      this.startCheckpoint();
    const waits: Promise<void>[] = [];
    if (this.o.rate) waits.push(this.o.rate.take(n, this.o.signal));
    // Copies may have taken a buffer beyond the limit: reading resumes only once the hasher caught up.
    if (this.inFlight >= IN_FLIGHT) waits.push(this.slot());
    if (waits.length === 0) return undefined;
    return Promise.all(waits).then(() => {
      if (this.failure) throw this.failure.error;
    });
  }

  /** Hands the batch being filled (already written) to the hasher; it returns to the pool once hashed. */
  private submit(): void {
    const batch = this.current;
    if (!batch) return;
    const len = this.fill;
    this.current = undefined;
    this.fill = 0;
    if (len > 0) this.o.onWritten?.(this.written);
    if (len === 0 || !this.o.hasher) {
      this.pool.give(batch);
      return;
    }
    this.inFlight++;
    // Requests complete in order, so the last one settling means all have.
    this.hashing = this.o.hasher.addBatch(batch, len).then(
      () => this.release(batch),
      (e: unknown) => {
        this.fail(e);
        this.release(batch);
      },
    );
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

  /** fdatasync of everything written so far (in the background), then the caller's state update. */
  private startCheckpoint(): void {
    this.sinceCheckpoint = 0;
    const durable = this.written;
    this.checkpointing = (async () => {
      await this.o.fh.datasync();
      await this.o.checkpoint!(durable);
    })()
      .catch((e: unknown) => this.fail(e))
      .finally(() => {
        this.checkpointing = undefined;
      });
  }

  /** Waits for the hashing and a running checkpoint (neither rejects). */
  private async settle(): Promise<void> {
    await this.hashing;
    await this.checkpointing;
  }

  private fail(error: unknown): void {
    this.failure ??= { error };
  }
}
