import { open } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { GridError } from '../errors/grid-error.js';
import { adler32Update, formatAdler32 } from './adler32.js';
import type { ChecksumAlgorithm, Checksums } from './checksum-format.js';
import { MultiHasher } from './multi-hasher.js';

/** Final digests of a stream, plus the raw adler32 (segments combine it). */
export interface StreamDigest {
  checksums: Checksums;
  adler32: number | undefined;
}

/**
 * A running hash over one byte stream. `update` takes the bytes in order; the data must stay unchanged
 * until its promise settles (a worker may read it meanwhile). `length` counts the bytes handed over.
 */
export interface StreamHasher {
  readonly algorithms: ReadonlySet<ChecksumAlgorithm>;
  readonly length: number;
  update(data: Uint8Array): Promise<void>;
  /** Final digests; the hasher cannot be used afterwards. */
  digest(): Promise<StreamDigest>;
}

/** Creates stream hashers (in a worker thread, or on the calling thread). */
export type HasherFactory = (algorithms: ReadonlySet<ChecksumAlgorithm>) => StreamHasher;

/** Hashing on the calling thread (tests, tiny jobs, and the fallback). */
export class LocalHasher implements StreamHasher {
  private readonly inner: MultiHasher;

  constructor(readonly algorithms: ReadonlySet<ChecksumAlgorithm>) {
    this.inner = new MultiHasher(algorithms);
  }

  get length(): number {
    return this.inner.length;
  }

  update(data: Uint8Array): Promise<void> {
    this.inner.update(data);
    return Promise.resolve();
  }

  digest(): Promise<StreamDigest> {
    const adler = this.inner.adler32Value;
    return Promise.resolve({ checksums: this.inner.digest(), adler32: adler });
  }
}

export const localHasher: HasherFactory = (algorithms) => new LocalHasher(algorithms);

/**
 * The worker's program, as a classic script (`eval: true`), so the same code runs from the TypeScript
 * sources (tsx, vitest) and from `dist`. It holds one hash state per stream id and hashes
 * SharedArrayBuffer ranges in the order they are posted; node:crypto does MD5/SHA-256 and adler32 is
 * `adler32Update` itself (its source text is self-contained).
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const adler32Update = ${adler32Update.toString()};
const states = new Map();
parentPort.on('message', (m) => {
  try {
    if (m.op === 'new') {
      states.set(m.id, {
        adler: m.algorithms.includes('adler32') ? 1 : undefined,
        md5: m.algorithms.includes('md5') ? createHash('md5') : undefined,
        sha256: m.algorithms.includes('sha256') ? createHash('sha256') : undefined,
      });
      return;
    }
    const s = states.get(m.id);
    if (m.op === 'update') {
      const data = new Uint8Array(m.buffer, m.offset, m.length);
      if (s.adler !== undefined) s.adler = adler32Update(s.adler, data);
      if (s.md5) s.md5.update(data);
      if (s.sha256) s.sha256.update(data);
      parentPort.postMessage({ seq: m.seq });
    } else if (m.op === 'digest') {
      states.delete(m.id);
      parentPort.postMessage({
        seq: m.seq,
        adler: s.adler,
        md5: s.md5 && s.md5.digest('hex'),
        sha256: s.sha256 && s.sha256.digest('hex'),
      });
    }
  } catch (e) {
    parentPort.postMessage({ seq: m.seq, error: String((e && e.stack) || e) });
  }
});
`;

interface Pending {
  resolve: (value: { adler?: number; md5?: string; sha256?: string }) => void;
  reject: (e: Error) => void;
}

/**
 * One worker thread that does all hashing of a download job, so the event loop (undici, writes,
 * state) and the hashes use both cores. Streams send SharedArrayBuffer ranges (no copy, no transfer);
 * each `update` resolves once the worker has hashed it, which is when the caller may reuse the memory.
 * Bytes that are not in shared memory are copied into it first.
 */
export class HashWorkerPool {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private nextId = 0;
  private failure: Error | undefined;

  constructor() {
    // Not unref'd: a pending digest must keep the process alive. The job closes the pool when it ends.
    this.worker = new Worker(WORKER_SOURCE, { eval: true, name: 'grid-hash' });
    this.worker.on('message', (m: { seq: number; error?: string; adler?: number; md5?: string; sha256?: string }) => {
      const p = this.pending.get(m.seq);
      if (!p) return;
      this.pending.delete(m.seq);
      if (m.error !== undefined) p.reject(new GridError('GRID_IO_FAILED', `hash worker: ${m.error}`));
      else p.resolve(m);
    });
    const fail = (e: Error) => {
      this.failure ??= new GridError('GRID_IO_FAILED', `hash worker stopped: ${e.message}`, { cause: e });
      for (const p of this.pending.values()) p.reject(this.failure);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
  }

  readonly create: HasherFactory = (algorithms) => new WorkerHasher(this, this.nextId++, algorithms);

  /** @internal */
  call(message: Record<string, unknown>, reply: boolean): Promise<{ adler?: number; md5?: string; sha256?: string }> {
    if (this.failure) return Promise.reject(this.failure);
    if (!reply) {
      this.worker.postMessage(message);
      return Promise.resolve({});
    }
    const seq = this.seq++;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.worker.postMessage({ ...message, seq });
    });
  }

  async close(): Promise<void> {
    this.failure ??= new GridError('GRID_ABORTED', 'hash worker closed');
    await this.worker.terminate();
  }
}

class WorkerHasher implements StreamHasher {
  private bytes = 0;
  private finished = false;

  constructor(
    private readonly pool: HashWorkerPool,
    private readonly id: number,
    readonly algorithms: ReadonlySet<ChecksumAlgorithm>,
  ) {
    void pool.call({ op: 'new', id, algorithms: [...algorithms] }, false).catch(() => undefined);
  }

  get length(): number {
    return this.bytes;
  }

  update(data: Uint8Array): Promise<void> {
    if (this.finished) return Promise.reject(new Error('hasher already finished'));
    this.bytes += data.length;
    if (data.length === 0) return Promise.resolve();
    let shared = data;
    if (!(data.buffer instanceof SharedArrayBuffer)) {
      shared = new Uint8Array(new SharedArrayBuffer(data.length));
      shared.set(data);
    }
    return this.pool.call({ op: 'update', id: this.id, buffer: shared.buffer, offset: shared.byteOffset, length: shared.length }, true).then(() => undefined);
  }

  async digest(): Promise<StreamDigest> {
    this.finished = true;
    const r = await this.pool.call({ op: 'digest', id: this.id }, true);
    const checksums: Checksums = {};
    if (r.adler !== undefined) checksums.adler32 = formatAdler32(r.adler);
    if (r.md5 !== undefined) checksums.md5 = r.md5;
    if (r.sha256 !== undefined) checksums.sha256 = r.sha256;
    return { checksums, adler32: r.adler };
  }
}

const READ_CHUNK = 4 * 1024 * 1024;

/**
 * Feeds `length` bytes of a file from `start` to a stream hasher (resume rebuilds its hash state this
 * way: node:crypto cannot export an MD5/SHA state). Two shared buffers alternate, so one read is in
 * flight while the other is hashed. Returns the bytes read.
 */
export async function hashFileInto(path: string, hasher: StreamHasher, start: number, length: number, signal?: AbortSignal): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const bufs = [Buffer.from(new SharedArrayBuffer(READ_CHUNK)), Buffer.from(new SharedArrayBuffer(READ_CHUNK))];
    const hashing: Array<Promise<void>> = [Promise.resolve(), Promise.resolve()];
    let pos = start;
    let idx = 0;
    while (pos - start < length) {
      signal?.throwIfAborted();
      await hashing[idx];
      const buf = bufs[idx]!;
      const { bytesRead } = await fh.read(buf, 0, Math.min(READ_CHUNK, start + length - pos), pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      const h = hasher.update(buf.subarray(0, bytesRead));
      h.catch(() => undefined); // awaited before the buffer is reused or at the end
      hashing[idx] = h;
      idx ^= 1;
    }
    await Promise.all(hashing);
    return pos - start;
  } finally {
    await fh.close();
  }
}
