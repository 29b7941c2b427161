import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { finalizePart, partPaths, readPartState, removePart, writePartState, type PartState } from './part-file.js';
import { safeRelativePath } from '../model/grid-file.js';

describe('part files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'part-'));
  const dest = join(dir, 'AO2D.root');
  const state: PartState = { version: 1, url: 'https://h/x', size: 10, etag: '"e"', lastModified: undefined, expected: { adler32: '00000001' }, segments: [{ start: 0, end: 10, done: 4 }] };

  it('round-trips the state and ignores torn or foreign files', async () => {
    const p = partPaths(dest);
    await writePartState(p.state, state);
    expect(await readPartState(p.state)).toEqual(state);
    writeFileSync(p.state, '{"version":1,"url":');
    expect(await readPartState(p.state)).toBeUndefined();
    writeFileSync(p.state, '{"version":2}');
    expect(await readPartState(p.state)).toBeUndefined();
    expect(await readPartState(join(dir, 'missing.json'))).toBeUndefined();
  });
  it('finalises by renaming over the destination and removing the state', async () => {
    const p = partPaths(dest);
    writeFileSync(dest, 'old');
    writeFileSync(p.part, 'new');
    await writePartState(p.state, state);
    await finalizePart(dest);
    expect(readFileSync(dest, 'utf8')).toBe('new');
    expect(existsSync(p.part) || existsSync(p.state)).toBe(false);
    writeFileSync(p.part, 'x');
    await removePart(dest);
    expect(existsSync(p.part)).toBe(false);
  });
  it('keeps destinations inside the destination directory', () => {
    expect(safeRelativePath('a/b/../c')).toBe('a/c');
    for (const bad of ['../x', '/etc/passwd', 'a/../../x', '', '.']) expect(() => safeRelativePath(bad)).toThrow();
  });
});
