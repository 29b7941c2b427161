import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runDownload, tempDir } from '../../test/support/fixtures.js';
import { MiB, startFileServer, type FileServer } from '../../test/support/file-server.js';
import { hostBootId } from '@beamline/core';
import { isGridError } from '../errors/grid-error.js';
import { toGridFile, type GridFile } from '../model/grid-file.js';

/** Nothing is written outside `dest`, whatever `dest` already holds, and bad lists are refused up front. */
describe('writes stay inside the destination directory', () => {
  let server: FileServer;
  let dest: string;
  let outside: string;
  const data = randomBytes(2 * MiB + 3);

  beforeAll(async () => {
    server = await startFileServer();
    server.setFile('x.bin', data);
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    dest = tempDir('dest');
    outside = tempDir('outside');
    writeFileSync(join(outside, 'victim'), 'precious');
    server.stats.requests.length = 0;
  });
  afterEach(() => {
    for (const d of [dest, outside]) rmSync(d, { recursive: true, force: true });
  });

  const victimIntact = () => expect(readFileSync(join(outside, 'victim'), 'utf8')).toBe('precious');
  const file = (dest = 'x.bin') => toGridFile({ url: server.url('x.bin'), size: data.length, dest });

  it('refuses a directory inside dest that is a symbolic link, before any transfer', async () => {
    symlinkSync(outside, join(dest, 'sub'));
    const { error } = await runDownload([file('sub/x.bin')], { dest });
    expect(isGridError(error, 'GRID_DEST_INVALID')).toBe(true);
    expect((error as Error).message).toMatch(/sub" is a symbolic link/);
    expect(server.stats.requests).toEqual([]);
    expect(existsSync(join(outside, 'x.bin')) || existsSync(join(outside, 'x.bin.part'))).toBe(false);
  });

  it('does not write through a link at the state file temporary name', async () => {
    symlinkSync(join(outside, 'victim'), join(dest, 'x.bin.part.json.tmp'));
    const { error } = await runDownload([file()], { dest });
    expect(error).toBeUndefined();
    victimIntact();
    expect(readFileSync(join(dest, 'x.bin')).equals(data)).toBe(true);
  });

  it('does not write through a link at the .part, even with a crafted state file claiming a resume', async () => {
    symlinkSync(join(outside, 'victim'), join(dest, 'x.bin.part'));
    const validator = '"v1-' + String(data.length) + '"';
    writeFileSync(
      join(dest, 'x.bin.part.json'),
      JSON.stringify({
        version: 2,
        url: server.url('x.bin'),
        size: data.length,
        validator,
        expected: {},
        bootId: hostBootId(),
        segments: [{ start: 0, end: data.length, done: 8, durable: 8 }],
      }),
    );
    const { error } = await runDownload([file()], { dest });
    expect(error).toBeUndefined();
    victimIntact();
    expect(lstatSync(join(dest, 'x.bin')).isFile()).toBe(true);
    expect(readFileSync(join(dest, 'x.bin')).equals(data)).toBe(true);
  });

  it('replaces a link at the final name instead of writing through it or taking it as present', async () => {
    writeFileSync(join(outside, 'same-size'), Buffer.alloc(data.length));
    symlinkSync(join(outside, 'same-size'), join(dest, 'x.bin'));
    const { events, error } = await runDownload([file()], { dest });
    expect(error).toBeUndefined();
    const done = events.find((e) => e.type === 'file-done');
    expect(done?.type === 'file-done' && done.file.source).toBe('network');
    expect(lstatSync(join(dest, 'x.bin')).isFile()).toBe(true);
    expect(readFileSync(join(outside, 'same-size')).equals(Buffer.alloc(data.length))).toBe(true);
  });

  it('refuses a list whose entries collide with another entry’s .part or state file, naming both', async () => {
    for (const other of ['x.bin.part', 'x.bin.part.json', 'x.bin/inner', '.beamline-grid.lock']) {
      const list: GridFile[] = [file('x.bin'), { ...file(other), name: other }];
      const { error } = await runDownload(list, { dest: join(dest, 'new') });
      expect(isGridError(error, 'GRID_DEST_INVALID')).toBe(true);
      expect((error as { retryable: boolean }).retryable).toBe(false);
      expect((error as Error).message).toContain(`"${other}"`);
    }
    expect(server.stats.requests).toEqual([]);
    expect(existsSync(join(dest, 'new'))).toBe(false);
  });

  it('refuses a colliding list before asking the replica catalogue', async () => {
    const asked: string[] = [];
    const lfn = (name: string, d: string): GridFile => ({ name, dest: d, replicas: [], checksums: {} });
    const { error } = await runDownload([lfn('/alice/a', 'c.bin'), lfn('/alice/b', 'c.bin.part')], {
      dest,
      resolveReplicas: (name) => {
        asked.push(name);
        return Promise.resolve({ replicas: [{ url: server.url('x.bin') }] });
      },
    });
    expect(isGridError(error, 'GRID_DEST_INVALID')).toBe(true);
    expect(asked).toEqual([]);
  });

  it('refuses entries that escape dest, absolute ones and NULs, printing control characters escaped', async () => {
    const crafted = (d: string, name = d): GridFile => ({
      name,
      dest: d,
      replicas: [{ url: server.url('x.bin') }],
      checksums: {},
    });
    for (const bad of ['../x', '/etc/passwd', 'a/../../x', 'a\0b']) {
      const { error } = await runDownload([crafted(bad)], { dest });
      expect(isGridError(error, 'GRID_DEST_INVALID')).toBe(true);
    }
    const { error } = await runDownload([crafted('ok\0.bin', 'evil\u001b[2J\r\nname')], { dest });
    const message = (error as Error).message;
    expect(message).toContain('evil\\u001b[2J\\r\\nname');
    expect(message).toContain('ok\\u0000.bin');
    // eslint-disable-next-line no-control-regex -- the point: no raw control character is printed
    expect(message).not.toMatch(/[\u0000-\u001f]/);
    expect(server.stats.requests).toEqual([]);
    expect(() => toGridFile({ url: server.url('x.bin'), dest: 'a\0b' })).toThrow(/NUL/);
  });

  it('refuses a destination directory whose name holds a NUL', async () => {
    const { error } = await runDownload([file()], { dest: `${dest}\0x` });
    expect(isGridError(error, 'GRID_DEST_INVALID')).toBe(true);
    expect((error as Error).message).toContain('\\u0000');
  });

  it('a file inside dest where a directory is needed fails the list before any transfer', async () => {
    mkdirSync(join(dest, 'd'));
    writeFileSync(join(dest, 'd', 'f'), 'x');
    const { error } = await runDownload([file('d/f/x.bin')], { dest });
    expect(isGridError(error, 'GRID_DEST_INVALID')).toBe(true);
    expect(server.stats.requests).toEqual([]);
  });
});
