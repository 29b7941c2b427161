import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDownload } from '../../test/support/fixtures.js';
import { serveDirectory, type ServedDirectory } from '../testing/serve-directory.js';

describe('cache of files listed without checksums (AliceTraINT lists: name and size only)', () => {
  let root: string;
  let served: ServedDirectory;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'grid-name-key-'));
    mkdirSync(join(root, 'se'));
    writeFileSync(join(root, 'se', 'AO2D.root'), Buffer.alloc(70_000, 7));
    served = await serveDirectory(join(root, 'se'));
  });
  afterAll(async () => {
    await served.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('a second job finds the file by name and size, after the first job computed its checksums', async () => {
    const file = () => ({
      name: '/alice/sim/LHC24f3/523397/001/AO2D.root',
      replicas: [{ url: served.fileUrl('AO2D.root') }],
      size: 70_000,
      checksums: {},
      dest: 'AO2D.root',
    });
    const cacheDir = join(root, 'cache');
    const first = await runDownload([file()], { dest: join(root, 'one'), cacheDir, checksums: ['sha256'] });
    expect(first.error).toBeUndefined();
    // The first job's copy is gone (a task folder removed after the task); the cache keeps its link.
    rmSync(join(root, 'one'), { recursive: true });
    const second = await runDownload([file()], { dest: join(root, 'two'), cacheDir, checksums: ['sha256'] });
    expect(second.error).toBeUndefined();
    const done = second.events.find((e) => e.type === 'file-done');
    expect(done?.type === 'file-done' && done.file.source).toBe('cache');
  });
});
