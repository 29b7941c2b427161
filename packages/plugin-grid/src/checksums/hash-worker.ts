import { Worker } from 'node:worker_threads';
import { GridError } from '../errors/grid-error.js';
import type { Batch } from '../transport/batch-pool.js';
import { createAdler32, formatAdler32 } from './adler32.js';
import { ADLER32_WASM_BASE64 } from './adler32-wasm.js';
import type { ChecksumAlgorithm, Checksums } from './checksum-format.js';
import { hashFileRange, MultiHasher } from './multi-hasher.js';

/** Final digests of a range, plus the raw adler32 (segments combine it). */
interface FileDigest {
  checksums: Checksums;
  adler32: number | undefined;
}

/**
 * A running hash over a file range that grows as the file is written: `add(n)` hashes the next `n`
 * bytes of the file (from `start + length`), which must already be written (a resumed prefix);
 * `addBatch` hashes the next bytes from the buffer they were just written from, without reading them
 * back.
 */
export interface FileHasher {
  readonly algorithms: ReadonlySet<ChecksumAlgorithm>;
  /** File offset of the first hashed byte. */
  readonly start: number;
  /** Bytes handed over so far (hashed, or queued for hashing). */
  readonly length: number;
  add(bytes: number): Promise<void>;
  /** Hashes the first `length` bytes of `batch` as the next bytes (already written to the file). */
  addBatch(batch: Batch, length: number): Promise<void>;
  /** Final digests, once every `add` is done; the hasher cannot be used afterwards. */
  digest(): Promise<FileDigest>;
}

/** Creates file hashers (in the job's hash worker, or on the calling thread). */
export type HasherFactory = (
  path: string,
  algorithms: ReadonlySet<ChecksumAlgorithm>,
  start?: number,
) => FileHasher;

/** Hashing on the calling thread (a fallback, and for tests). */
class LocalFileHasher implements FileHasher {
  private readonly inner: MultiHasher;
  private queue = Promise.resolve();
  private queued = 0;

  constructor(
    private readonly path: string,
    readonly algorithms: ReadonlySet<ChecksumAlgorithm>,
    readonly start: number,
  ) {
    this.inner = new MultiHasher(algorithms);
  }

  get length(): number {
    return this.queued;
  }

  add(bytes: number): Promise<void> {
    const from = this.start + this.queued;
    this.queued += bytes;
    const run = this.queue.then(async () => {
      const n = await hashFileRange(this.path, this.inner, from, bytes);
      if (n !== bytes)
        throw new GridError(
          'GRID_IO_FAILED',
          `${this.path}: ${n} of ${bytes} bytes to hash at ${from} are in the file`,
        );
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  addBatch(batch: Batch, length: number): Promise<void> {
    this.queued += length;
    const run = this.queue.then(() => this.inner.update(batch.bytes.subarray(0, length)));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async digest(): Promise<FileDigest> {
    await this.queue;
    const adler = this.inner.adler32Value;
    return { checksums: this.inner.digest(), adler32: adler };
  }
}

export const localHasher: HasherFactory = (path, algorithms, start = 0) =>
  new LocalFileHasher(path, algorithms, start);

/**
 * The worker's program, as a classic script (`eval: true`), so the same code runs from the TypeScript
 * sources (tsx, vitest) and from `dist`. One hash state per id, requests handled in the order posted:
 * `add` reads the next bytes of the file (page cache) with one 4 MiB buffer, `batch` hashes a written
 * batch from its shared memory (registered once with `buffer`). node:crypto does MD5/SHA-256; adler32
 * is `createAdler32` itself (its source text is self-contained), with the same WebAssembly module.
 */
const WORKER_SOURCE = `
'use strict';
// Transpilers that keep function names (esbuild's keepNames: tsx) wrap inner functions in __name().
var __name = (f) => f;
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const adler32Update = (${createAdler32.toString()})(Buffer.from('${ADLER32_WASM_BASE64}', 'base64'));
const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
const states = new Map();
const batches = new Map();
function update(s, data) {
  if (s.adler !== undefined) s.adler = adler32Update(s.adler, data);
  if (s.md5) s.md5.update(data);
  if (s.sha256) s.sha256.update(data);
  s.pos += data.length;
}
parentPort.on('message', (m) => {
  try {
    if (m.op === 'buffer') {
      batches.set(m.batch, new Uint8Array(m.memory));
      return;
    }
    if (m.op === 'new') {
      const algs = m.algorithms;
      states.set(m.id, {
        path: m.path,
        pos: m.start,
        adler: algs.includes('adler32') ? 1 : undefined,
        md5: algs.includes('md5') ? createHash('md5') : undefined,
        sha256: algs.includes('sha256') ? createHash('sha256') : undefined,
      });
      return;
    }
    const s = states.get(m.id);
    if (m.op === 'add') {
      const fd = fs.openSync(s.path, 'r');
      try {
        for (let left = m.bytes; left > 0; ) {
          const n = fs.readSync(fd, buf, 0, Math.min(left, buf.length), s.pos);
          if (n === 0) throw new Error(s.path + ': the file ends at ' + s.pos + ', ' + left + ' more bytes were to be hashed');
          update(s, n === buf.length ? buf : buf.subarray(0, n));
          left -= n;
        }
      } finally {
        fs.closeSync(fd);
      }
      parentPort.postMessage({ seq: m.seq });
    } else if (m.op === 'batch') {
      update(s, batches.get(m.batch).subarray(0, m.length));
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
    if ((m.op === 'add' || m.op === 'batch') && states.has(m.id)) states.delete(m.id);
    parentPort.postMessage({ seq: m.seq, error: String((e && e.message) || e) });
  }
});
`;

interface Reply {
  seq: number;
  error?: string;
  adler?: number;
  md5?: string;
  sha256?: string;
}

/**
 * One worker thread that does all hashing of a download job: the event loop only reads sockets and
 * issues writes, while the worker hashes each written batch from the shared memory it was written
 * from, so both cores work. Messages are tiny (ids, byte counts); a batch buffer's memory is posted
 * once, on its first use.
 */
export class HashWorkerPool {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private seq = 0;
  private nextId = 0;
  private failure: Error | undefined;
  /** Batch buffers whose shared memory the worker holds. */
  private readonly batches = new Set<number>();

  constructor() {
    // Not unref'd: a pending digest must keep the process alive. The job closes the pool when it ends.
    this.worker = new Worker(WORKER_SOURCE, { eval: true, name: 'grid-hash' });
    this.worker.on('message', (m: Reply) => {
      const p = this.pending.get(m.seq);
      if (!p) return;
      this.pending.delete(m.seq);
      if (m.error !== undefined) p.reject(hashingError(m.error));
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

  readonly create: HasherFactory = (path, algorithms, start = 0) => {
    const id = this.nextId++;
    this.post({ op: 'new', id, path, start, algorithms: [...algorithms] });
    return new WorkerFileHasher(this, id, algorithms, start);
  };

  /** @internal */
  post(message: Record<string, unknown>): void {
    if (!this.failure) this.worker.postMessage(message);
  }

  /** Makes a batch buffer's memory known to the worker (once). @internal */
  share(batch: Batch): void {
    if (this.batches.has(batch.id)) return;
    if (!(batch.bytes.buffer instanceof SharedArrayBuffer))
      throw new Error('hash worker: batch buffers must live in shared memory');
    this.batches.add(batch.id);
    this.post({ op: 'buffer', batch: batch.id, memory: batch.bytes.buffer });
  }

  /** @internal */
  call(message: Record<string, unknown>): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
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

class WorkerFileHasher implements FileHasher {
  private bytes = 0;

  constructor(
    private readonly pool: HashWorkerPool,
    private readonly id: number,
    readonly algorithms: ReadonlySet<ChecksumAlgorithm>,
    readonly start: number,
  ) {}

  get length(): number {
    return this.bytes;
  }

  add(bytes: number): Promise<void> {
    if (bytes === 0) return Promise.resolve();
    this.bytes += bytes;
    return this.pool.call({ op: 'add', id: this.id, bytes }).then(() => undefined);
  }

  addBatch(batch: Batch, length: number): Promise<void> {
    if (length === 0) return Promise.resolve();
    this.bytes += length;
    this.pool.share(batch);
    return this.pool.call({ op: 'batch', id: this.id, batch: batch.id, length }).then(() => undefined);
  }

  async digest(): Promise<FileDigest> {
    const r = await this.pool.call({ op: 'digest', id: this.id });
    const checksums: Checksums = {};
    if (r.adler !== undefined) checksums.adler32 = formatAdler32(r.adler);
    if (r.md5 !== undefined) checksums.md5 = r.md5;
    if (r.sha256 !== undefined) checksums.sha256 = r.sha256;
    return { checksums, adler32: r.adler };
  }
}

/**
 * Hashes `bytes` more bytes that are already in the file (a resumed prefix) in 64 MiB steps, so an abort
 * is noticed between steps instead of after re-reading a whole large file.
 */
export async function hashExisting(hasher: FileHasher, bytes: number, signal?: AbortSignal): Promise<void> {
  const step = 64 * 1024 * 1024;
  for (let done = 0; done < bytes; done += step) {
    signal?.throwIfAborted();
    await hasher.add(Math.min(step, bytes - done));
  }
}

/** A hashing failure; a file that vanished or shrank was changed by someone else during the download. */
function hashingError(message: string): GridError {
  const changed = /ENOENT|the file ends at/.test(message);
  return new GridError(
    'GRID_IO_FAILED',
    `hashing: ${message}${changed ? ' (was the file removed or truncated during the download?)' : ''}`,
  );
}
