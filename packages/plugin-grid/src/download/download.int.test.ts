import { rmSync } from 'node:fs';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireService } from '@beamline/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasBinary, INSTALL_HINT } from '../../test/support/binaries.js';
import { makeFiles, runDownload, tempDir, type DataFile } from '../../test/support/fixtures.js';
import { startNginx, TEST_TOKEN, type TestNginx } from '../../test/support/nginx.js';
import { startTcpProxy } from '../../test/support/tcp-proxy.js';
import { toGridFile, type GridFile } from '../model/grid-file.js';
import { isGridError } from '../errors/grid-error.js';
import { freePort } from '../../test/support/ports.js';

const available = requireService('nginx', hasBinary('nginx'), INSTALL_HINT);
const MiB = 1024 * 1024;

describe.skipIf(!available)('download over HTTP from nginx on loopback', () => {
  let root: string;
  let data: string;
  let nginx: TestNginx;
  let files: DataFile[];
  let big: DataFile;

  beforeAll(async () => {
    root = tempDir('http');
    data = join(root, 'data');
    const wrong = join(root, 'wrong');
    files = makeFiles(data, [
      1,
      1000,
      65536,
      3 * MiB + 7,
      5 * MiB,
      1 * MiB,
      2 * MiB,
      123457,
      0,
      4 * MiB,
      700_000,
      2_000_000,
    ]);
    big = makeFiles(data, [24 * MiB], 'big')[0]!;
    // Same names and sizes, other bytes: a replica that serves wrong content.
    makeFiles(wrong, [24 * MiB], 'big');
    nginx = await startNginx({ dir: join(root, 'nginx'), dataDir: data, wrongDir: wrong, slowRate: '40k' });
  });
  afterAll(async () => {
    await nginx?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const gf = (f: DataFile, urls: string[], extra: Partial<{ dest: string }> = {}): GridFile =>
    toGridFile({
      name: f.name,
      urls,
      size: f.size,
      adler32: f.adler32,
      md5: f.md5,
      dest: extra.dest ?? f.name,
    });

  it('downloads many files, verified, no .part left, events in order', async () => {
    const dest = join(root, 'out-happy');
    const list = files.map((f) => gf(f, [nginx.url(nginx.ports.replicas[0], f.name)]));
    const { events, error } = await runDownload(list, {
      dest,
      parallel: 4,
      perHost: 4,
      checksums: ['sha256'],
    });
    expect(error).toBeUndefined();
    expect(events[0]?.type).toBe('plan');
    expect(events[events.length - 1]?.type).toBe('done');
    const done = events.filter((e) => e.type === 'file-done');
    expect(done).toHaveLength(files.length);
    for (const f of files) {
      const r = done.find((e) => e.type === 'file-done' && e.file.name === f.name);
      expect(r?.type === 'file-done' && r.file.checksums).toMatchObject({
        adler32: f.adler32,
        md5: f.md5,
        sha256: f.sha256,
      });
      expect(readFileSync(join(dest, f.name)).length).toBe(f.size);
    }
    expect(readdirSync(dest).filter((n) => n.includes('.part'))).toEqual([]);
  });

  it('resumes through a proxy that cuts connections every ~2 MB, checksum correct', async () => {
    const proxy = await startTcpProxy(nginx.ports.replicas[0], { cutEvery: 2 * MiB });
    try {
      const dest = join(root, 'out-cut');
      const { events, error } = await runDownload([gf(big, [`http://127.0.0.1:${proxy.port}/${big.name}`])], {
        dest,
        retry: { perReplica: 50, backoff: { initialDelayMs: 10, maxDelayMs: 50 } },
      });
      expect(error).toBeUndefined();
      expect(proxy.stats.cuts).toBeGreaterThan(3);
      expect(events.filter((e) => e.type === 'resume').length).toBeGreaterThan(3);
      const r = events.find((e) => e.type === 'file-done');
      expect(r?.type === 'file-done' && r.file.checksums.adler32).toBe(big.adler32);
      expect(existsSync(join(dest, `${big.name}.part`))).toBe(false);
    } finally {
      await proxy.close();
    }
  });

  it('moves on from a dead first replica within seconds', async () => {
    const dead = await freePort();
    const t0 = Date.now();
    const f = files[3]!;
    const { events, error } = await runDownload(
      [gf(f, [`http://127.0.0.1:${dead}/${f.name}`, nginx.url(nginx.ports.replicas[1], f.name)])],
      {
        dest: join(root, 'out-dead'),
      },
    );
    expect(error).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(5000);
    const sw = events.find((e) => e.type === 'replica-switch');
    expect(sw?.type === 'replica-switch' && sw.error.code).toBe('GRID_CONNECT_FAILED');
  });

  it('detects a stalled (slow) replica and switches', async () => {
    const { events, error } = await runDownload(
      [gf(big, [nginx.url(nginx.ports.slow, big.name), nginx.url(nginx.ports.replicas[0], big.name)])],
      {
        dest: join(root, 'out-slow'),
        stall: { minBytesPerSec: 1 * MiB, windowMs: 1500 },
      },
    );
    expect(error).toBeUndefined();
    const sw = events.find((e) => e.type === 'replica-switch');
    expect(sw?.type === 'replica-switch' && sw.error.code).toBe('GRID_STALLED');
    const r = events.find((e) => e.type === 'file-done');
    expect(r?.type === 'file-done' && r.file.checksums.adler32).toBe(big.adler32);
  });

  it('rejects a replica with wrong content of the right size and never shows it', async () => {
    const dest = join(root, 'out-wrong');
    const { events, error } = await runDownload(
      [gf(big, [nginx.url(nginx.ports.wrong, big.name), nginx.url(nginx.ports.replicas[2], big.name)])],
      { dest },
    );
    expect(error).toBeUndefined();
    const sw = events.find((e) => e.type === 'replica-switch');
    expect(sw?.type === 'replica-switch' && sw.error.code).toBe('GRID_CHECKSUM_MISMATCH');
    // The only file-done is the good one, and no file appeared under the final name before it.
    const idx = events.findIndex((e) => e.type === 'file-done');
    expect(idx).toBeGreaterThan(events.indexOf(sw!));
    const r = events[idx];
    expect(r?.type === 'file-done' && r.file.checksums.md5).toBe(big.md5);
  });

  it('honours Retry-After on 503, then moves on', async () => {
    const f = files[2]!;
    const t0 = Date.now();
    const { events, error } = await runDownload(
      [gf(f, [nginx.url(nginx.ports.unavailable, f.name), nginx.url(nginx.ports.replicas[0], f.name)])],
      {
        dest: join(root, 'out-503'),
        retry: { perReplica: 3 },
      },
    );
    expect(error).toBeUndefined();
    const retries = events.filter((e) => e.type === 'retry');
    expect(retries).toHaveLength(2);
    for (const r of retries) expect(r.type === 'retry' && r.delayMs).toBe(1000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
  });

  it('stops on 401 on every replica without a retry loop', async () => {
    const f = files[2]!;
    const { events, error } = await runDownload(
      [gf(f, [nginx.url(nginx.ports.unauthorized, f.name), nginx.url(nginx.ports.bearer, f.name)])],
      {
        dest: join(root, 'out-401'),
        credentials: { bearerToken: false },
      },
    );
    expect(isGridError(error, 'GRID_FILES_FAILED')).toBe(true);
    const failed = events.find((e) => e.type === 'file-failed');
    expect(failed?.type === 'file-failed' && failed.error).toMatchObject({
      code: 'GRID_UNAUTHORIZED',
      retryable: false,
    });
    expect(events.filter((e) => e.type === 'retry')).toHaveLength(0);
    expect((error as { retryable: boolean }).retryable).toBe(false);
  });

  it('sends a discovered bearer token (BEARER_TOKEN_FILE) and never puts it in events', async () => {
    const f = files[4]!;
    const tokenFile = join(root, 'token');
    writeFileSync(tokenFile, `  ${TEST_TOKEN}\n`);
    const { events, error } = await runDownload([gf(f, [nginx.url(nginx.ports.bearer, f.name)])], {
      dest: join(root, 'out-token'),
      credentials: { bearerToken: 'discover', env: { BEARER_TOKEN_FILE: tokenFile } },
    });
    expect(error).toBeUndefined();
    expect(JSON.stringify(events)).not.toContain(TEST_TOKEN);
  });

  it('holds the per-host cap (counted at the server side of a proxy)', async () => {
    const proxy = await startTcpProxy(nginx.ports.replicas[0]);
    try {
      const list = files
        .concat(files.map((f) => ({ ...f })))
        .map((f, i) => gf(f, [`http://127.0.0.1:${proxy.port}/${f.name}`], { dest: `${i}/${f.name}` }));
      const { error } = await runDownload(list, { dest: join(root, 'out-cap'), parallel: 8, perHost: 2 });
      expect(error).toBeUndefined();
      expect(proxy.stats.maxActive).toBeLessThanOrEqual(2);
      expect(proxy.stats.connections).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
  });

  it('skips a verified existing file and reuses the shared cache', async () => {
    const f = files[5]!;
    const dest = join(root, 'out-present');
    mkdirSync(dest, { recursive: true });
    copyFileSync(join(data, f.name), join(dest, f.name));
    const proxy = await startTcpProxy(nginx.ports.replicas[0]);
    try {
      const url = `http://127.0.0.1:${proxy.port}/${f.name}`;
      const present = await runDownload([gf(f, [url])], { dest });
      expect(present.error).toBeUndefined();
      const done = present.events.find((e) => e.type === 'file-done');
      expect(done?.type === 'file-done' && done.file.source).toBe('present');
      expect(proxy.stats.connections).toBe(0);

      const cacheDir = join(root, 'cache');
      const first = await runDownload([gf(f, [url])], { dest: join(root, 'out-cache-1'), cacheDir });
      expect(first.error).toBeUndefined();
      const conns = proxy.stats.connections;
      const second = await runDownload([gf(f, [url])], { dest: join(root, 'out-cache-2'), cacheDir });
      expect(second.error).toBeUndefined();
      const d2 = second.events.find((e) => e.type === 'file-done');
      expect(d2?.type === 'file-done' && d2.file.source).toBe('cache');
      expect(proxy.stats.connections).toBe(conns);
      expect(readFileSync(join(root, 'out-cache-2', f.name)).equals(readFileSync(join(data, f.name)))).toBe(
        true,
      );
    } finally {
      await proxy.close();
    }
  });

  it('downloads one file in 4 range segments with adler32 combined', async () => {
    const { events, error } = await runDownload([gf(big, [nginx.url(nginx.ports.replicas[1], big.name)])], {
      dest: join(root, 'out-seg'),
      segments: 4,
      segmentMinSize: 1,
      checksums: ['sha256'],
    });
    expect(error).toBeUndefined();
    const r = events.find((e) => e.type === 'file-done');
    expect(r?.type === 'file-done' && r.file.checksums).toMatchObject({
      adler32: big.adler32,
      md5: big.md5,
      sha256: big.sha256,
    });
  });

  it('dry run plans without writing', async () => {
    const dest = join(root, 'out-dry');
    const { events, error } = await runDownload(
      [gf(files[1]!, [nginx.url(nginx.ports.replicas[0], files[1]!.name)])],
      { dest, dryRun: true },
    );
    expect(error).toBeUndefined();
    expect(events.map((e) => e.type)).toEqual(['plan']);
    expect(existsSync(dest)).toBe(false);
  });
});
