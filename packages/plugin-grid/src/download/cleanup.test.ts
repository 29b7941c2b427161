import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDownload, tempDir } from '../../test/support/fixtures.js';
import { MiB, startFileServer, type FileServer } from '../../test/support/file-server.js';
import { isGridError } from '../errors/grid-error.js';
import { toGridFile } from '../model/grid-file.js';

/** A file that fails leaves nothing behind except a `.part` that a later run can resume. */
describe('failures leave nothing behind', () => {
  let servers: FileServer[];
  let root: string;
  const data = randomBytes(1 * MiB);

  beforeAll(async () => {
    root = tempDir('cleanup');
    servers = await Promise.all([startFileServer(), startFileServer(), startFileServer()]);
    for (const s of servers) s.setFile('a.bin', data);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    rmSync(root, { recursive: true, force: true });
  });

  it('a file every replica refuses (404, 403) leaves no .part and no state file', async () => {
    const [missing, forbidden] = servers;
    missing!.behaviour.status = 404;
    forbidden!.behaviour.status = 403;
    const dest = join(root, 'refused');
    // With size and checksum known there is no HEAD: the GET meets the refusal.
    const list = [
      toGridFile({
        urls: [missing!.url('a.bin'), forbidden!.url('a.bin')],
        size: data.length,
        adler32: '00000001',
      }),
    ];
    const { error } = await runDownload(list, { dest });
    expect(isGridError(error, 'GRID_FILES_FAILED')).toBe(true);
    expect(readdirSync(dest)).toEqual([]);
  });

  it('a segment answered with 412 leaves no orphan state file', async () => {
    const s = servers[2]!;
    s.behaviour.rangeStatus = { status: 412, when: (r) => r.start > 0 };
    const dest = join(root, 'seg412');
    const { error } = await runDownload([toGridFile({ url: s.url('a.bin') })], {
      dest,
      segments: 4,
      segmentMinSize: 1,
      retry: { perReplica: 2, rounds: 1, backoff: { initialDelayMs: 5, maxDelayMs: 10 } },
    });
    delete s.behaviour.rangeStatus;
    expect(isGridError(error, 'GRID_FILES_FAILED')).toBe(true);
    expect(readdirSync(dest)).toEqual([]);
  });
});
