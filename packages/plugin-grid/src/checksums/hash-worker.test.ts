import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pumpBody } from '../transport/body-writer.js';
import { adler32, formatAdler32 } from './adler32.js';
import { hashExisting, HashWorkerPool, localHasher } from './hash-worker.js';

const pool = new HashWorkerPool();
let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'grid-hw-'));
});
afterAll(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

const data = randomBytes(3 * 1024 * 1024 + 12_345);
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const want = {
  adler32: formatAdler32(adler32(data)),
  md5: md5(data),
  sha256: createHash('sha256').update(data).digest('hex'),
};

describe('hash worker', () => {
  it('matches node:crypto and adler32, added in uneven steps, in the worker and locally', async () => {
    writeFileSync(join(dir, 'f'), data);
    for (const make of [pool.create, localHasher]) {
      const h = make(join(dir, 'f'), new Set(['adler32', 'md5', 'sha256']));
      const cuts = [0, 1, 17, 65_536, 1_000_003, 2_500_000, data.length];
      await Promise.all(cuts.slice(1).map((c, i) => h.add(c - cuts[i]!)));
      expect(h.length).toBe(data.length);
      const d = await h.digest();
      expect(d.checksums).toEqual(want);
      expect(formatAdler32(d.adler32!)).toBe(want.adler32);
    }
  });

  it('hashes ranges from an offset, keeps streams apart, and fails when the file is shorter', async () => {
    writeFileSync(join(dir, 'g'), data);
    const a = pool.create(join(dir, 'g'), new Set(['md5']), 100);
    const b = pool.create(join(dir, 'g'), new Set(['md5']));
    await Promise.all([hashExisting(a, 2_000_000), hashExisting(b, data.length)]);
    expect((await a.digest()).checksums.md5).toBe(md5(data.subarray(100, 2_000_100)));
    expect((await b.digest()).checksums.md5).toBe(want.md5);
    const c = pool.create(join(dir, 'g'), new Set(['adler32']), data.length - 10);
    await expect(c.add(11)).rejects.toThrow(/the file ends/);
  });

  it('pumps a body into a file at an offset, hashing every byte, with background checkpoints', async () => {
    const path = join(dir, 'out');
    const fh = await open(path, 'w+');
    await fh.write(Buffer.from('head'), 0, 4, 0);
    const h = pool.create(path, new Set(['adler32', 'md5']), 4);
    const checkpoints: number[] = [];
    const chunks = Array.from({ length: 90 }, (_, i) => data.subarray(i * 37_000, (i + 1) * 37_000));
    chunks.push(data.subarray(90 * 37_000));
    const n = await pumpBody(Readable.from(chunks), {
      fh,
      position: 4,
      expected: data.length,
      hasher: h,
      onData: () => undefined,
      checkpointBytes: 1024 * 1024,
      checkpoint: (durable) => {
        checkpoints.push(durable);
        return Promise.resolve();
      },
    });
    await fh.close();
    expect(n).toBe(data.length);
    expect(readFileSync(path).equals(Buffer.concat([Buffer.from('head'), data]))).toBe(true);
    expect((await h.digest()).checksums).toEqual({ adler32: want.adler32, md5: want.md5 });
    expect(checkpoints.length).toBeGreaterThan(0);
    expect([...checkpoints].sort((x, y) => x - y)).toEqual(checkpoints);
    expect(checkpoints.every((c) => c > 0 && c <= data.length)).toBe(true);
  });

  it('rejects a body longer than announced, after writing and hashing what arrived', async () => {
    const path = join(dir, 'out2');
    const fh = await open(path, 'w+');
    const h = pool.create(path, new Set(['adler32']));
    await expect(
      pumpBody(Readable.from([data.subarray(0, 1000), data.subarray(1000, 3000)]), {
        fh,
        position: 0,
        expected: 2000,
        hasher: h,
        onData: () => undefined,
      }),
    ).rejects.toThrow(/more than the 2000 bytes/);
    await fh.close();
    expect(readFileSync(path).equals(data.subarray(0, 1000))).toBe(true);
    expect(h.length).toBe(1000);
    expect((await h.digest()).checksums.adler32).toBe(formatAdler32(adler32(data.subarray(0, 1000))));
  });
});
