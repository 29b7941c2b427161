import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { requireService } from '@beamline/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/peers/folders.js';
import { clientTargets, startTarget, targetAvailable, type Target } from '../support/peers/target.js';
import { hasBinary, INSTALL_HINT } from '../support/peers/tools.js';
import { cadaverArg as q, runCadaver } from './harness/cadaver.js';
import { diffTree, writeTree, type TreeFile } from './harness/files.js';
import { clientLayout, WRITER, type ClientLayout } from './harness/layout.js';

const hasCadaver = requireService('cadaver', hasBinary('cadaver', '--version'), INSTALL_HINT);
const targets = hasCadaver ? clientTargets().filter(targetAvailable) : [];

describe.skipIf(targets.length === 0).each(targets)('cadaver (neon) against %s', (kind) => {
  let root: string;
  let layout: ClientLayout;
  let target: Target;
  let source: string;
  let files: TreeFile[];

  beforeAll(async () => {
    root = tempDir(`cadaver-${kind}`);
    layout = clientLayout(join(root, 'share'));
    source = join(root, 'source');
    files = await writeTree(source);
    target = await startTarget(kind, layout.spec, join(root, 'server'));
  });
  afterAll(async () => {
    await target?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const login = { user: WRITER.name, password: WRITER.password };
  const ok = (steps: { command: string; output: string; ok: boolean }[]) =>
    steps.filter((s) => !s.ok).map((s) => `${s.command}\n  -> ${s.output}`);

  it('uploads and downloads 0 B, 1 B, 100 MB and names with space, #, %, Unicode and emoji', async () => {
    const down = join(root, 'download');
    const dirs = [...new Set(files.map((f) => dirname(f.path)).filter((d) => d !== '.'))];
    for (const d of dirs) mkdirSync(join(down, d), { recursive: true });
    const commands = [
      `mkcol ${q('cadaver')}`,
      `cd ${q('cadaver')}`,
      ...dirs.map((d) => `mkcol ${q(d)}`),
      ...files.map((f) => `put ${q(join(source, f.path))} ${q(f.path)}`),
      ...files.map((f) => `get ${q(f.path)} ${q(join(down, f.path))}`),
      'ls',
    ];
    const { steps, raw } = await runCadaver(`${target.url}/dav/`, login, commands);
    expect(ok(steps), raw).toEqual([]);
    // What the server stored (exact names, exact bytes) and what came back.
    expect(await diffTree(files, join(layout.folders.dav, 'cadaver'))).toEqual([]);
    expect(await diffTree(files, down)).toEqual([]);
    const listing = steps.at(-1)!.output;
    for (const f of files.filter((x) => !x.path.includes('/'))) expect(listing).toContain(f.path);
    expect(await target.answers()).toBe(true);
  });

  it('locks, writes under the lock (neon sends a tagged If), unlocks, sets and reads a dead property', async () => {
    const changed = join(root, 'changed.txt');
    writeFileSync(changed, 'written while locked\n');
    const name = 'hash#tag.txt';
    const { steps, raw } = await runCadaver(`${target.url}/dav/cadaver/`, login, [
      `lock ${q(name)}`,
      `put ${q(changed)} ${q(name)}`,
      `unlock ${q(name)}`,
      `propset ${q(name)} checksum sha256:0123abcd`,
      `propget ${q(name)} checksum`,
    ]);
    expect(ok(steps), raw).toEqual([]);
    expect(steps[4]!.output, raw).toContain('sha256:0123abcd');
    expect(readFileSync(join(layout.folders.dav, 'cadaver', name), 'utf8')).toBe('written while locked\n');
  });

  it('reads /data without a login; a write there with an unknown login is refused', async () => {
    writeFileSync(join(layout.folders.data, 'public.txt'), 'public\n');
    const out = join(root, 'public-copy.txt');
    const { steps, raw } = await runCadaver(`${target.url}/data/`, { user: 'stranger', password: 'guess' }, [
      `get ${q('public.txt')} ${q(out)}`,
      `put ${q(out)} ${q('planted.txt')}`,
    ]);
    expect(steps[0]!.ok, raw).toBe(true);
    expect(readFileSync(out, 'utf8')).toBe('public\n');
    expect(steps[1]!.ok, raw).toBe(false);
    expect(steps[1]!.output, raw).toMatch(/401|Unauthorized|authentication/i);
    expect(existsSync(join(layout.folders.data, 'planted.txt'))).toBe(false);
  });
});
