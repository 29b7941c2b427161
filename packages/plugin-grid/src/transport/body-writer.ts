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
  /** Bytes gathered before one positional `writev`. Default 4 MiB. */
  readonly batchBytes?: number;
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
    throw new Error(
      `pumpBody: the hasher is at ${o.hasher.start + o.hasher.length}, the body starts at ${o.position}`,
    );
  }
  return new BodyWriter(o).consume(body);
}

/**
 * The state of one {@link pumpBody}. Background work (the write in flight, hashing, a checkpoint) is
 * held in promises that never reject: each records its error in `failure`, which the body loop checks
 * per chunk, so no failure can surface as an unhandled rejection, and every promise is awaited before
 * the pump returns or throws.
 */
class BodyWriter {
  private received = 0;
  /** Body bytes handed to `writev` (the next batch starts at `position + queued`). */
  private queued = 0;
  private written = 0;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private sinceCheckpoint = 0;
  private writing: Promise<void> = Promise.resolve();
  private hashing: Promise<void> = Promise.resolve();
  private checkpointing: Promise<void> | undefined;
  private failure: { error: unknown } | undefined;
  private readonly checkpointEvery: number;
  private readonly batchLimit: number;

  constructor(private readonly o: PumpOptions) {
    this.batchLimit = o.batchBytes ?? WRITE_BATCH;
    this.checkpointEvery = o.checkpoint
      ? (o.checkpointBytes ?? Number.POSITIVE_INFINITY)
      : Number.POSITIVE_INFINITY;
  }

  async consume(body: AsyncIterable<Buffer>): Promise<number> {
    try {
      for await (const chunk of body) {
        if (this.failure) throw this.failure.error;
        this.accept(chunk);
        if (this.batchBytes >= this.batchLimit || this.batch.length >= MAX_IOVECS) await this.flush();
        if (this.o.rate) await this.o.rate.take(chunk.length, this.o.signal);
        if (this.sinceCheckpoint >= this.checkpointEvery && this.checkpointing === undefined) {
          await this.flush();
          this.startCheckpoint();
        }
      }
      await this.flush();
      await this.settle();
      if (this.failure) throw this.failure.error;
      return this.received;
    } catch (e) {
      // Keep what arrived: write it and hand it to the hasher, so the file and the hasher agree. A failure
      // of this clean-up is secondary: the original error is the one worth reporting.
      await this.flush();
      await this.settle();
      throw e;
    }
  }

  private accept(chunk: Buffer): void {
    this.received += chunk.length;
    if (this.o.expected !== undefined && this.received > this.o.expected) {
      throw new GridError(
        'GRID_BAD_RESPONSE',
        `the server sent more than the ${this.o.expected} bytes it announced`,
        { retryable: true },
      );
    }
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    this.sinceCheckpoint += chunk.length;
    this.o.onData(chunk.length);
  }

  /** Starts writing the batch once the previous write is done (one write in flight). */
  private async flush(): Promise<void> {
    if (this.batchBytes === 0) return;
    const bufs = this.batch;
    const len = this.batchBytes;
    const at = this.o.position + this.queued;
    this.batch = [];
    this.batchBytes = 0;
    this.queued += len;
    await this.writing;
    this.writing = this.write(bufs, at, len);
  }

  /** Writes one batch, then hands the written range to the hasher. Never rejects. */
  private async write(bufs: Buffer[], at: number, len: number): Promise<void> {
    if (this.failure) return;
    try {
      await writeAll(this.o.fh, bufs, at, len);
    } catch (e) {
      this.fail(e);
      return;
    }
    this.written += len;
    if (this.o.hasher) this.hashing = this.o.hasher.add(len).catch((e: unknown) => this.fail(e));
    this.o.onWritten?.(this.written);
  }

  /** fdatasync of everything written so far, then the caller's state update, off the hot path. */
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

  /** Waits for the write in flight, the hashing and a running checkpoint (none of which rejects). */
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
