import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localHasher, type FileHasher } from '../checksums/hash-worker.js';
import type { Batch } from './batch-pool.js';
import { pumpBody } from './body-writer.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'grid-bw-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A hasher that takes `delayMs` per batch, counting how many batches it holds at once. */
function slowHasher(path: string, delayMs: number): FileHasher & { maxHeld: number; batchBytes: number } {
  const inner = localHasher(path, new Set(['adler32']));
  let held = 0;
  const h = {
    maxHeld: 0,
    batchBytes: 0,
    algorithms: inner.algorithms,
    start: 0,
    get length() {
      return inner.length;
    },
    add: (n: number) => inner.add(n),
    async addBatch(batch: Batch, length: number) {
      held++;
      h.maxHeld = Math.max(h.maxHeld, held);
      h.batchBytes += length;
      await sleep(delayMs);
      await inner.addBatch(batch, length);
      held--;
    },
    digest: () => inner.digest(),
  };
  return h;
}

describe('body writer', () => {
  it('holds a bounded number of batches when the hasher is slower than the network', async () => {
    const path = join(dir, 'slow');
    const fh = await open(path, 'w+');
    const data = randomBytes(4 * 1024 * 1024);
    const hasher = slowHasher(path, 20);
    // Chunks through the copying path that do not line up with the 64 KiB batches (a batch is always
    // being filled): 64 batches for a 20 ms hasher.
    const step = 40_000;
    const chunks = Array.from({ length: Math.ceil(data.length / step) }, (_, i) =>
      data.subarray(i * step, (i + 1) * step),
    );
    const n = await pumpBody(chunks, { fh, position: 0, hasher, batchBytes: 65536, onData: () => undefined });
    await fh.close();
    expect(n).toBe(data.length);
    expect(readFileSync(path).equals(data)).toBe(true);
    expect(hasher.batchBytes).toBe(data.length);
    expect(hasher.maxHeld).toBeLessThanOrEqual(3);
  });

  it('fails at once on a write error, keeping the hasher in step with what was written', async () => {
    const path = join(dir, 'ro');
    const fh = await open(path, 'w+');
    await fh.close();
    const readOnly = await open(path, 'r');
    const hasher = localHasher(path, new Set(['adler32']));
    await expect(
      pumpBody([randomBytes(1000)], { fh: readOnly, position: 0, hasher, onData: () => undefined }),
    ).rejects.toMatchObject({ code: 'EBADF' });
    await readOnly.close();
    expect(hasher.length).toBe(0);
  });
});
