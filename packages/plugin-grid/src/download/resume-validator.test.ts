import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runDownload, tempDir } from '../../test/support/fixtures.js';
import { MiB, startFileServer, type FileServer } from '../../test/support/file-server.js';
import { seedPart } from '../../test/support/parts.js';
import { toGridFile } from '../model/grid-file.js';
import type { DownloadOptions } from './download-options.js';

/**
 * A resumed download never splices two versions of a file: the validator stored with the `.part` is
 * compared with every response, and a `.part` without one (and without a checksum) is never resumed.
 */
describe('resume against a file that changed on the server', () => {
  let server: FileServer;
  let dest: string;
  const v1 = randomBytes(4 * MiB);
  const v2 = randomBytes(4 * MiB);
  const quick: Partial<DownloadOptions> = {
    retry: { perReplica: 1, rounds: 1, backoff: { initialDelayMs: 10, maxDelayMs: 20 } },
  };

  beforeEach(async () => {
    server = await startFileServer();
    dest = tempDir('validator');
  });
  afterEach(async () => {
    await server.close();
    rmSync(dest, { recursive: true, force: true });
  });

  /** A first run cut after 1.5 MiB of version 1: leaves a `.part` (and its state) behind. */
  const interruptedRun = async (
    list = [toGridFile({ url: server.url('a.bin') })],
    options: Partial<DownloadOptions> = {},
    cut = 1.5 * MiB,
  ) => {
    server.setFile('a.bin', v1);
    server.behaviour.cutAfter = cut;
    const first = await runDownload(list, { dest, ...quick, ...options });
    expect(first.error).toBeDefined();
    expect(statSync(join(dest, 'a.bin.part')).size).toBeGreaterThan(0);
    delete server.behaviour.cutAfter;
    server.setFile('a.bin', v2);
  };

  it('stores the validator with the .part and restarts from zero when a server ignoring If-Range sends 206 of a new version', async () => {
    await interruptedRun();
    const state = JSON.parse(readFileSync(join(dest, 'a.bin.part.json'), 'utf8')) as { validator?: string };
    expect(state.validator).toMatch(/^"v1-/);
    server.behaviour.ignoreIfRange = true;
    const { error } = await runDownload([toGridFile({ url: server.url('a.bin') })], { dest, ...quick });
    expect(error).toBeUndefined();
    expect(readFileSync(join(dest, 'a.bin')).equals(v2)).toBe(true);
  });

  it('compares the validator of every 206 (no HEAD when the list has a checksum) and starts over on a mismatch', async () => {
    const md5 = createHash('md5').update(v2).digest('hex');
    const list = [toGridFile({ url: server.url('a.bin'), size: v2.length, md5 })];
    await interruptedRun(list);
    server.behaviour.ignoreIfRange = true;
    const { events, error } = await runDownload(list, {
      dest,
      retry: { perReplica: 3, rounds: 1, backoff: { initialDelayMs: 10, maxDelayMs: 20 } },
    });
    expect(error).toBeUndefined();
    const codes = events.flatMap((e) =>
      e.type === 'retry' || e.type === 'replica-switch' ? [e.error.code] : [],
    );
    expect(codes).toEqual(['GRID_CONTENT_CHANGED']);
    expect(readFileSync(join(dest, 'a.bin')).equals(v2)).toBe(true);
  });

  it('a server that answers 200 (If-Range not matching) leaves the new file whole', async () => {
    await interruptedRun();
    const { error } = await runDownload([toGridFile({ url: server.url('a.bin') })], { dest, ...quick });
    expect(error).toBeUndefined();
    expect(readFileSync(join(dest, 'a.bin')).equals(v2)).toBe(true);
  });

  it('never resumes a .part without a validator and without a checksum (and does not keep one)', async () => {
    server.behaviour.noValidators = true;
    server.setFile('a.bin', v1);
    server.behaviour.cutAfter = 1.5 * MiB;
    const first = await runDownload([toGridFile({ url: server.url('a.bin') })], { dest, ...quick });
    expect(first.error).toBeDefined();
    expect(existsSync(join(dest, 'a.bin.part')) || existsSync(join(dest, 'a.bin.part.json'))).toBe(false);

    // Such a .part (left by an older version, say) is not resumed either.
    delete server.behaviour.cutAfter;
    server.setFile('a.bin', v2);
    server.behaviour.ignoreIfRange = true;
    seedPart(dest, 'a.bin', v1.subarray(0, 1.5 * MiB), undefined, { url: server.url('a.bin') });
    server.stats.requests.length = 0;
    const { error } = await runDownload([toGridFile({ url: server.url('a.bin') })], { dest, ...quick });
    expect(error).toBeUndefined();
    expect(server.stats.requests.filter((r) => r.method === 'GET').map((r) => r.range)).toEqual([undefined]);
    expect(readFileSync(join(dest, 'a.bin')).equals(v2)).toBe(true);
  });

  it('segmented: a segment meeting a new version discards the .part (no splice, no state left) and the retry starts over', async () => {
    const md5 = createHash('md5').update(v2).digest('hex');
    const list = [toGridFile({ url: server.url('a.bin'), size: v2.length, md5 })];
    const seg = { segments: 4, segmentMinSize: 1 };
    await interruptedRun(list, seg, 0.5 * MiB);
    server.behaviour.ignoreIfRange = true;
    const { events, error } = await runDownload(list, {
      dest,
      ...seg,
      retry: { perReplica: 3, rounds: 1, backoff: { initialDelayMs: 10, maxDelayMs: 20 } },
    });
    expect(error).toBeUndefined();
    const codes = events.flatMap((e) =>
      e.type === 'retry' || e.type === 'replica-switch' ? [e.error.code] : [],
    );
    expect(codes).toEqual(['GRID_CONTENT_CHANGED']);
    expect(readFileSync(join(dest, 'a.bin')).equals(v2)).toBe(true);
    expect(existsSync(join(dest, 'a.bin.part.json'))).toBe(false);
  });
});
