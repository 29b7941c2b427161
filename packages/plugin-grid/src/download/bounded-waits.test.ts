import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDownload, tempDir } from '../../test/support/fixtures.js';
import { MiB, startFileServer, type FileServer } from '../../test/support/file-server.js';
import { toGridFile } from '../model/grid-file.js';
import type { GridEvent } from './grid-event.js';

/** Every wait is bounded, and a timeout moves on to the next replica instead of waiting there again. */
describe('a replica that stops answering', () => {
  let silent: FileServer;
  let good: FileServer;
  let root: string;
  const data = randomBytes(4 * MiB);
  const md5 = createHash('md5').update(data).digest('hex');
  const stall = { minBytesPerSec: 64 * 1024, windowMs: 800 };

  beforeAll(async () => {
    root = tempDir('silent');
    silent = await startFileServer();
    good = await startFileServer();
    for (const s of [silent, good]) s.setFile('a.bin', data);
  });
  afterAll(async () => {
    await Promise.all([silent.close(), good.close()]);
    rmSync(root, { recursive: true, force: true });
  });

  const switches = (events: GridEvent[]) =>
    events.flatMap((e) => (e.type === 'replica-switch' ? [e.error.code] : []));
  const retries = (events: GridEvent[]) => events.filter((e) => e.type === 'retry');

  it('is cut by the stall watchdog when it never answers HEAD, and the next replica serves the file', async () => {
    silent.behaviour.stallHead = true;
    const t0 = Date.now();
    // No checksum in the list: the download starts with HEAD (for the server's Digest).
    const { events, error } = await runDownload(
      [toGridFile({ urls: [silent.url('a.bin'), good.url('a.bin')] })],
      { dest: join(root, 'head'), stall },
    );
    delete silent.behaviour.stallHead;
    expect(error).toBeUndefined();
    expect(switches(events)).toEqual(['GRID_STALLED']);
    expect(retries(events)).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(readFileSync(join(root, 'head', 'a.bin')).equals(data)).toBe(true);
  });

  it('is cut the same way when it sends the GET headers and then nothing', async () => {
    silent.behaviour.stallBody = true;
    const { events, error } = await runDownload(
      [toGridFile({ urls: [silent.url('a.bin'), good.url('a.bin')], size: data.length, md5 })],
      {
        dest: join(root, 'body'),
        stall,
      },
    );
    delete silent.behaviour.stallBody;
    expect(error).toBeUndefined();
    expect(switches(events)).toEqual(['GRID_STALLED']);
  });

  it('a headers timeout (watchdog off) moves to the next replica instead of retrying the silent one', async () => {
    silent.behaviour.stallHead = true;
    const t0 = Date.now();
    const { events, error } = await runDownload(
      [toGridFile({ urls: [silent.url('a.bin'), good.url('a.bin')] })],
      {
        dest: join(root, 'timeout'),
        stall: { minBytesPerSec: 0 },
        timeouts: { headersMs: 700 },
      },
    );
    delete silent.behaviour.stallHead;
    expect(error).toBeUndefined();
    expect(switches(events)).toEqual(['GRID_STALLED']);
    expect(retries(events)).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(8000);
  });

  it('resets a replica’s retry budget after an attempt that made progress', async () => {
    // Every response is cut after 512 KiB (paced, so the bytes reach the client before the cut): 8
    // attempts, each moving the file forward.
    good.behaviour.cutAfter = 512 * 1024;
    good.behaviour.rate = 16 * MiB;
    const { events, error } = await runDownload(
      [toGridFile({ url: good.url('a.bin'), size: data.length, md5 })],
      {
        dest: join(root, 'progress'),
        retry: { perReplica: 2, rounds: 1, backoff: { initialDelayMs: 5, maxDelayMs: 10 } },
      },
    );
    delete good.behaviour.cutAfter;
    delete good.behaviour.rate;
    expect(error).toBeUndefined();
    expect(retries(events).length).toBeGreaterThanOrEqual(7);
    expect(readFileSync(join(root, 'progress', 'a.bin')).equals(data)).toBe(true);
  });
});
