import { createRuntime, MemoryStore, type Plugin } from '@beamline/core';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runDownload, tempDir } from '../../test/support/fixtures.js';
import { isGridError } from '../errors/grid-error.js';
import { toGridFile } from '../model/grid-file.js';
import { createGridPlugin } from '../plugin.js';
import { GridTransferDriversToken } from '../tokens.js';
import type { TransferAttempt, TransferDriver, TransferResult } from './driver.js';

/** Writes `data` into the attempt's `.part` (from scratch: these drivers do not resume). */
async function writePart(a: TransferAttempt, data: Buffer): Promise<TransferResult> {
  const fh = await a.part.open(true);
  try {
    await fh.write(data, 0, data.length, 0);
    a.onData(data.length);
    await fh.datasync();
    return { size: data.length };
  } finally {
    await fh.close();
  }
}

/** A third driver as an application would write one: `file://` URLs, read from the local disk. */
const fileDriver: TransferDriver = {
  name: 'file',
  schemes: ['file'],
  open: () => ({
    transfer: async (a) => writePart(a, await readFile(fileURLToPath(a.url))),
    close: () => Promise.resolve(),
  }),
};

/** A fake scheme served from memory, registered by another plugin through the grid plugin's token. */
const memory = new Map<string, Buffer>();
const memDriver: TransferDriver = {
  name: 'memory',
  schemes: ['mem'],
  open: () => ({
    transfer: async (a) => {
      const data = memory.get(a.url);
      if (!data) throw Object.assign(new Error(`${a.where}: no such object`), { code: 'ENOENT' });
      return writePart(a, data);
    },
    close: () => Promise.resolve(),
  }),
};

const memoryStoragePlugin: Plugin = {
  name: 'memory-storage',
  dependencies: ['grid'],
  register: (registry) => registry.resolve(GridTransferDriversToken).register(memDriver),
};

describe('a transfer driver registered from outside', () => {
  const root = tempDir('driver');
  const source = join(root, 'source.bin');
  const data = randomBytes(300_000);
  writeFileSync(source, data);
  const md5 = createHash('md5').update(data).digest('hex');
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('downloads file:// end to end: the job verifies, renames and reports as for any driver', async () => {
    const dest = join(root, 'lib');
    const { events, error } = await runDownload(
      [toGridFile({ url: pathToFileURL(source).href, md5, dest: 'copy.bin' })],
      {
        dest,
        drivers: [fileDriver],
        checksums: ['sha256'],
      },
    );
    expect(error).toBeUndefined();
    const done = events.find((e) => e.type === 'file-done');
    expect(done?.type === 'file-done' && done.file.checksums).toMatchObject({
      md5,
      sha256: createHash('sha256').update(data).digest('hex'),
    });
    expect(readFileSync(join(dest, 'copy.bin')).equals(data)).toBe(true);

    const wrong = await runDownload(
      [toGridFile({ url: pathToFileURL(source).href, md5: '0'.repeat(32), dest: 'bad.bin' })],
      { dest, drivers: [fileDriver] },
    );
    expect(isGridError(wrong.error, 'GRID_FILES_FAILED')).toBe(true);
    expect(
      wrong.events.some((e) => e.type === 'replica-switch' && e.error.code === 'GRID_CHECKSUM_MISMATCH'),
    ).toBe(true);
  });

  it('names the schemes it has drivers for when none handles a URL', async () => {
    const { events, error } = await runDownload([toGridFile({ url: 'fake://host/x.bin' })], {
      dest: join(root, 'none'),
    });
    expect(isGridError(error, 'GRID_FILES_FAILED')).toBe(true);
    const failed = events.find((e) => e.type === 'file-failed');
    expect(failed?.type === 'file-failed' && failed.error.message).toMatch(
      /no driver for this scheme \(dav, davs, http, https, root, roots, xroot, xroots\)/,
    );
  });

  it('is registered through the plugin options and, by another plugin, through GridTransferDriversToken', async () => {
    memory.set('mem://bucket/m.bin', data);
    const cwd = tempDir('driver-rt');
    const runtime = await createRuntime({
      store: new MemoryStore(),
      cwd,
      plugins: [createGridPlugin({ drivers: [fileDriver] }), memoryStoragePlugin],
    });
    try {
      const handle = await runtime.run({
        name: 'drivers',
        steps: {
          fetch: {
            uses: 'grid.download',
            with: {
              dest: 'raw',
              files: [
                { url: pathToFileURL(source).href, dest: 'f.bin' },
                { url: 'mem://bucket/m.bin', dest: 'm.bin', md5 },
              ],
            },
          },
        },
      });
      const result = await handle.done;
      expect(result.status).toBe('succeeded');
      expect(readFileSync(join(cwd, 'raw', 'f.bin')).equals(data)).toBe(true);
      expect(readFileSync(join(cwd, 'raw', 'm.bin')).equals(data)).toBe(true);
    } finally {
      await runtime.close();
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
