import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGridError } from '../errors/grid-error.js';
import { safeRelativePath } from '../model/grid-file.js';
import { hostBootId } from '@beamline/core';
import { PartFile, resumableBytes, type PartState } from './part-file.js';

import { SafeDir } from './safe-dir.js';

describe('part files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'part-'));
  let root: SafeDir;
  beforeAll(async () => {
    root = (await SafeDir.openRoot(dir, true))!;
  });
  const outsides: string[] = [];
  const outsideDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'outside-'));
    outsides.push(d);
    return d;
  };
  afterAll(async () => {
    await root.close();
    for (const d of [dir, ...outsides]) rmSync(d, { recursive: true, force: true });
  });
  const state: PartState = {
    version: 2,
    url: 'https://h/x',
    size: 10,
    validator: '"e"',
    expected: { adler32: '00000001' },
    bootId: hostBootId(),
    segments: [{ start: 0, end: 10, done: 4, durable: 4 }],
  };

  it('round-trips the state and ignores torn or foreign files', async () => {
    const part = new PartFile(root, 'AO2D.root');
    await part.writeState(state);
    expect(await part.readState()).toEqual(state);
    writeFileSync(join(dir, 'AO2D.root.part.json'), '{"version":2,"url":');
    expect(await part.readState()).toBeUndefined();
    writeFileSync(join(dir, 'AO2D.root.part.json'), '{"version":1}');
    expect(await part.readState()).toBeUndefined();
    expect(await new PartFile(root, 'missing').readState()).toBeUndefined();
  });

  it('finalises by renaming over the destination and removing the state', async () => {
    const part = new PartFile(root, 'f.bin');
    writeFileSync(join(dir, 'f.bin'), 'old');
    writeFileSync(join(dir, 'f.bin.part'), 'new');
    await part.writeState(state);
    await part.finalize();
    expect(readFileSync(join(dir, 'f.bin'), 'utf8')).toBe('new');
    expect(existsSync(join(dir, 'f.bin.part')) || existsSync(join(dir, 'f.bin.part.json'))).toBe(false);
    writeFileSync(join(dir, 'f.bin.part'), 'x');
    await part.remove();
    expect(existsSync(join(dir, 'f.bin.part'))).toBe(false);
  });

  it('trusts written bytes from this boot, only fsynced ones from another', () => {
    const two: PartState = {
      ...state,
      segments: [
        { start: 0, end: 5, done: 5, durable: 2 },
        { start: 5, end: 10, done: 3, durable: 0 },
      ],
    };
    expect(resumableBytes(two, 10)).toBe(8);
    expect(resumableBytes({ ...two, bootId: 'another-boot' }, 10)).toBe(2);
    const one: PartState = { ...state, segments: [{ start: 0, end: 10, done: 4, durable: 2 }] };
    expect(resumableBytes(one, 7)).toBe(7);
    expect(resumableBytes({ ...one, bootId: undefined }, 7)).toBe(2);
  });

  it('never writes through links at the .part, the state file or its temporary name', async () => {
    const outside = outsideDir();
    for (const n of ['a', 'b', 'c']) writeFileSync(join(outside, n), 'precious');
    symlinkSync(join(outside, 'a'), join(dir, 'l.bin.part'));
    symlinkSync(join(outside, 'b'), join(dir, 'l.bin.part.json.tmp'));
    symlinkSync(join(outside, 'c'), join(dir, 'l.bin.part.json'));
    const part = new PartFile(root, 'l.bin');
    expect(await part.size()).toBeUndefined();
    expect(await part.readState()).toBeUndefined();
    await part.writeState(state);
    const fh = await part.open(false);
    await fh.write(Buffer.from('data'), 0, 4, 0);
    await fh.close();
    for (const n of ['a', 'b', 'c']) expect(readFileSync(join(outside, n), 'utf8')).toBe('precious');
    expect(lstatSync(join(dir, 'l.bin.part')).isFile()).toBe(true);
    expect(lstatSync(join(dir, 'l.bin.part.json')).isFile()).toBe(true);
  });

  it('refuses a directory inside the destination that is a link, or not a directory', async () => {
    const outside = outsideDir();
    symlinkSync(outside, join(dir, 'linked'));
    mkdirSync(join(dir, 'real'));
    writeFileSync(join(dir, 'real', 'file'), 'x');
    const refused = async (rel: string) => {
      const e: unknown = await root.openDir(rel, true).then(
        () => undefined,
        (err: unknown) => err,
      );
      return isGridError(e, 'GRID_DEST_INVALID') ? e.message : 'accepted';
    };
    expect(await refused('linked/sub')).toMatch(/linked" is a symbolic link/);
    expect(await refused('real/file/sub')).toMatch(/file" is not a directory/);
    expect(existsSync(join(outside, 'sub'))).toBe(false);
    const made = await root.openDir(join('real', 'new', 'deeper'), true);
    expect(made?.path).toBe(join(dir, 'real', 'new', 'deeper'));
    await made?.close();
    expect(await root.openDir('absent/x', false)).toBeUndefined();
  });

  it.runIf(process.platform === 'linux')(
    'keeps writing into the checked directory when it is swapped for a link afterwards',
    async () => {
      const outside = outsideDir();
      const sub = (await root.openDir('swapped', true))!;
      renameSync(join(dir, 'swapped'), join(dir, 'moved-away'));
      symlinkSync(outside, join(dir, 'swapped'));
      const part = new PartFile(sub, 'f.bin');
      await part.writeState(state);
      await (await part.open(true)).close();
      await sub.close();
      expect(readdirSync(outside)).toEqual([]);
      expect(readdirSync(join(dir, 'moved-away')).sort()).toEqual(['f.bin.part', 'f.bin.part.json']);
    },
  );

  it('keeps destinations inside the destination directory', () => {
    expect(safeRelativePath('a/b/../c')).toBe('a/c');
    for (const bad of ['../x', '/etc/passwd', 'a/../../x', '', '.', 'a\0b'])
      expect(() => safeRelativePath(bad)).toThrow();
  });
});
