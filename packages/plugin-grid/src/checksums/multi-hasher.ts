import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { ADLER32_INIT, adler32Update, formatAdler32 } from './adler32.js';
import type { ChecksumAlgorithm, Checksums } from './checksum-format.js';

/** Feeds one stream of bytes to several checksum algorithms at once. */
export class MultiHasher {
  private adler: number | undefined;
  private readonly md5: Hash | undefined;
  private readonly sha256: Hash | undefined;
  private bytes = 0;

  constructor(readonly algorithms: ReadonlySet<ChecksumAlgorithm>) {
    this.adler = algorithms.has('adler32') ? ADLER32_INIT : undefined;
    this.md5 = algorithms.has('md5') ? createHash('md5') : undefined;
    this.sha256 = algorithms.has('sha256') ? createHash('sha256') : undefined;
  }

  /** Bytes hashed so far. */
  get length(): number {
    return this.bytes;
  }

  update(chunk: Uint8Array): void {
    if (this.adler !== undefined) this.adler = adler32Update(this.adler, chunk);
    this.md5?.update(chunk);
    this.sha256?.update(chunk);
    this.bytes += chunk.length;
  }

  /** The running adler32 (unsigned), when computed; segments combine it. */
  get adler32Value(): number | undefined {
    return this.adler;
  }

  /** Final digests; the hasher cannot be used afterwards. */
  digest(): Checksums {
    const out: Checksums = {};
    if (this.adler !== undefined) out.adler32 = formatAdler32(this.adler);
    if (this.md5) out.md5 = this.md5.digest('hex');
    if (this.sha256) out.sha256 = this.sha256.digest('hex');
    return out;
  }
}

const READ_CHUNK = 4 * 1024 * 1024;

/**
 * Hashes `length` bytes of a file from `start` into `hasher` with large reads (resume rebuilds its hash
 * state this way, because node:crypto cannot export an md5/sha state). Reads into two alternating
 * buffers so one read is in flight while the other is hashed.
 */
export async function hashFileRange(
  path: string,
  hasher: MultiHasher,
  start = 0,
  length = Number.POSITIVE_INFINITY,
  signal?: AbortSignal,
): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const bufs = [Buffer.allocUnsafe(READ_CHUNK), Buffer.allocUnsafe(READ_CHUNK)];
    let pos = start;
    let remaining = length;
    let idx = 0;
    const readNext = (buf: Buffer) =>
      fh.read(buf, 0, Math.min(READ_CHUNK, remaining), pos).then((r) => r.bytesRead);
    let pending = remaining > 0 ? readNext(bufs[0]!) : Promise.resolve(0);
    for (;;) {
      const n = await pending;
      if (n === 0) break;
      signal?.throwIfAborted();
      const buf = bufs[idx]!;
      pos += n;
      remaining -= n;
      idx ^= 1;
      pending = remaining > 0 ? readNext(bufs[idx]!) : Promise.resolve(0);
      hasher.update(n === buf.length ? buf : buf.subarray(0, n));
    }
    return pos - start;
  } finally {
    await fh.close();
  }
}

/** Checksums of a whole file. */
export async function hashFile(
  path: string,
  algorithms: Iterable<ChecksumAlgorithm>,
  signal?: AbortSignal,
): Promise<Checksums> {
  const hasher = new MultiHasher(new Set(algorithms));
  await hashFileRange(path, hasher, 0, Number.POSITIVE_INFINITY, signal);
  return hasher.digest();
}
