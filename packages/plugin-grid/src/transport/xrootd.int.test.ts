import { rmSync } from 'node:fs';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { requireService } from '@beamline/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasBinary, INSTALL_HINT } from '../../test/support/binaries.js';
import { makeFiles, runDownload, tempDir, type DataFile } from '../../test/support/fixtures.js';
import { startXrootd, type TestXrootd } from '../../test/support/xrootd.js';
import { startTcpProxy } from '../../test/support/tcp-proxy.js';
import { toGridFile } from '../model/grid-file.js';
import { seedPart } from '../../test/support/parts.js';

const available = requireService(
  'xrootd + xrdcp',
  hasBinary('xrootd') && hasBinary('xrdcp', '--version'),
  INSTALL_HINT,
);
const MiB = 1024 * 1024;

describe.skipIf(!available)('Debian XRootD 5.5.3: XrdHttp quirks and the xrdcp driver', () => {
  let root: string;
  let data: string;
  let xrd: TestXrootd;
  let f: DataFile;

  beforeAll(async () => {
    root = tempDir('xrd');
    data = join(root, 'data');
    f = makeFiles(data, [20 * MiB + 3])[0]!;
    xrd = await startXrootd(root, data);
  });
  afterAll(async () => {
    await xrd?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  /** A .part holding the first `n` bytes, with its state, as an interrupted run leaves it. */
  const seedFirstBytes = (dest: string, url: string, n: number) =>
    seedPart(dest, f.name, readFileSync(join(data, f.name)).subarray(0, n), f.size, {
      url,
      expected: { adler32: f.adler32 },
    });

  it('verifies against the XrdHttp Digest (asked on HEAD) when the list has no checksum', async () => {
    const { events, error } = await runDownload(
      [toGridFile({ url: `http://127.0.0.1:${xrd.httpPort}/${f.name}` })],
      { dest: join(root, 'out-digest') },
    );
    expect(error).toBeUndefined();
    const done = events.find((e) => e.type === 'file-done');
    expect(done?.type === 'file-done' && done.file.checksums.adler32).toBe(f.adler32);
  });

  it('resumes from XrdHttp with a capitalised, closed Range (no empty 206, no restart from 0)', async () => {
    const dest = join(root, 'out-resume-http');
    const url = `http://127.0.0.1:${xrd.httpPort}/${f.name}`;
    seedFirstBytes(dest, url, 7 * MiB);
    const { events, error } = await runDownload([toGridFile({ url, size: f.size, adler32: f.adler32 })], {
      dest,
    });
    expect(error).toBeUndefined();
    const resume = events.find((e) => e.type === 'resume');
    expect(resume?.type === 'resume' && resume.offset).toBe(7 * MiB);
    expect(events.some((e) => e.type === 'log' && /restarting from byte 0/.test(e.message))).toBe(false);
    expect(events.some((e) => e.type === 'retry')).toBe(false);
  });

  it('resumes from XrdHttp with unknown size: HEAD first, so the range is still closed', async () => {
    const dest = join(root, 'out-resume-nosize');
    const url = `http://127.0.0.1:${xrd.httpPort}/${f.name}`;
    seedFirstBytes(dest, url, 3 * MiB);
    const { events, error } = await runDownload([toGridFile({ url, adler32: f.adler32 })], { dest });
    expect(error).toBeUndefined();
    expect(events.some((e) => e.type === 'retry')).toBe(false);
    const done = events.find((e) => e.type === 'file-done');
    expect(done?.type === 'file-done' && done.file.size).toBe(f.size);
  });

  it('fetches root:// with xrdcp, progress parsed, resuming a .part with --continue', async () => {
    const dest = join(root, 'out-xrdcp');
    const url = `root://127.0.0.1:${xrd.rootPort}//${f.name}`;
    seedFirstBytes(dest, url, 5 * MiB);
    const { events, error } = await runDownload(
      [toGridFile({ url, size: f.size, adler32: f.adler32, md5: f.md5 })],
      { dest, progressIntervalMs: 50 },
    );
    expect(error).toBeUndefined();
    const resume = events.find((e) => e.type === 'resume');
    expect(resume?.type === 'resume' && resume.offset).toBe(5 * MiB);
    const done = events.find((e) => e.type === 'file-done');
    expect(done?.type === 'file-done' && done.file.checksums).toMatchObject({
      adler32: f.adler32,
      md5: f.md5,
    });
    expect(existsSync(join(dest, `${f.name}.part`))).toBe(false);
  });

  it('xrdcp survives a proxy cutting root:// connections and the result verifies', async () => {
    const proxy = await startTcpProxy(xrd.rootPort, { cutEvery: 4 * MiB, maxCuts: 3 });
    try {
      const url = `root://127.0.0.1:${proxy.port}//${f.name}`;
      const { events, error } = await runDownload([toGridFile({ url, size: f.size, adler32: f.adler32 })], {
        dest: join(root, 'out-xrdcp-cut'),
        retry: { backoff: { initialDelayMs: 50, maxDelayMs: 200 } },
      });
      expect(error).toBeUndefined();
      const done = events.find((e) => e.type === 'file-done');
      expect(done?.type === 'file-done' && done.file.checksums.adler32).toBe(f.adler32);
    } finally {
      await proxy.close();
    }
  });
});
