/** A write buffer in shared memory: the hash worker reads the very bytes that are written, without a copy. */
export interface Batch {
  /** Unique in the process; names the buffer to the hash worker. */
  readonly id: number;
  readonly bytes: Buffer;
}

let nextId = 0;

/**
 * Reusable write buffers of a download job, by size. Socket reads land in them directly (see
 * `BodySink.space`), the filled buffer is written to the `.part` and hashed by the job's hash worker,
 * then it comes back here: a download allocates a few buffers, not one per socket read.
 */
export class BatchPool {
  private readonly free = new Map<number, Batch[]>();

  /** A buffer of `size` bytes (reused when one is free). */
  take(size: number): Batch {
    const b = this.free.get(size)?.pop();
    if (b) return b;
    return { id: nextId++, bytes: Buffer.from(new SharedArrayBuffer(size)) };
  }

  /** Gives a buffer back; its bytes may be overwritten from now on. */
  give(batch: Batch): void {
    const size = batch.bytes.length;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(batch);
  }
}
