import { cpSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireService } from '@beamline/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/peers/folders.js';
import { clientTargets, startTarget, targetAvailable, type Target } from '../support/peers/target.js';
import { hasBinary, INSTALL_HINT } from '../support/peers/tools.js';
import { diffTree, sha256File, writeTree, type TreeFile } from './harness/files.js';
import { clientLayout, WRITER, type ClientLayout } from './harness/layout.js';
import { rclone, rcloneFailure, rcloneRemote, type RcloneRemote } from './harness/rclone.js';

const hasRclone = requireService('rclone', hasBinary('rclone', 'version'), INSTALL_HINT);
const targets = hasRclone ? clientTargets().filter(targetAvailable) : [];

describe.skipIf(targets.length === 0).each(targets)('rclone (webdav backend) against %s', (kind) => {
  let root: string;
  let layout: ClientLayout;
  let target: Target;
  let source: string;
  let files: TreeFile[];
  let remote: RcloneRemote;
  const onServer = () => join(layout.folders.dav, 'rclone');

  beforeAll(async () => {
    root = tempDir(`rclone-${kind}`);
    layout = clientLayout(join(root, 'share'));
    source = join(root, 'source');
    files = await writeTree(source);
    target = await startTarget(kind, layout.spec, join(root, 'server'));
    remote = await rcloneRemote(`${target.url}/dav`, WRITER.name, WRITER.password);
  });
  afterAll(async () => {
    await target?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('copy uploads the tree: exact names and bytes on the server', async () => {
    const r = await rclone(remote, ['copy', source, ':webdav:rclone']);
    expect(r.code, rcloneFailure(r)).toBe(0);
    expect(await diffTree(files, onServer())).toEqual([]);
  });

  it('check --download compares every byte and finds no difference', async () => {
    const r = await rclone(remote, ['check', source, ':webdav:rclone', '--download']);
    expect(r.code, rcloneFailure(r)).toBe(0);
    expect(r.stderr).toContain('0 differences found');
    expect(r.stderr).toContain(`${files.length} matching files`);
  });

  it('check --download notices a file changed on the server', async () => {
    const victim = join(onServer(), 'emoji 🚀🔬.txt');
    const original = await sha256File(victim);
    writeFileSync(victim, 'x'.repeat(1005)); // same size, other bytes
    try {
      const r = await rclone(remote, ['check', source, ':webdav:rclone', '--download']);
      expect(r.code, rcloneFailure(r)).not.toBe(0);
      expect(r.stderr).toContain('1 differences found');
    } finally {
      cpSync(join(source, 'emoji 🚀🔬.txt'), victim);
      expect(await sha256File(victim)).toBe(original);
    }
  });

  it('sync server -> local mirrors the tree', async () => {
    const mirror = join(root, 'mirror');
    const r = await rclone(remote, ['sync', ':webdav:rclone', mirror]);
    expect(r.code, rcloneFailure(r)).toBe(0);
    expect(await diffTree(files, mirror)).toEqual([]);
  });

  it('sync local -> server applies additions, changes and deletions; sync back mirrors them', async () => {
    const changed = join(root, 'changed');
    cpSync(source, changed, { recursive: true });
    unlinkSync(join(changed, 'one byte.bin'));
    writeFileSync(join(changed, 'hash#tag.txt'), 'rewritten, another size\n');
    writeFileSync(join(changed, 'new 🆕 100%.txt'), 'added\n');
    const up = await rclone(remote, ['sync', changed, ':webdav:rclone']);
    expect(up.code, rcloneFailure(up)).toBe(0);
    const expected: TreeFile[] = [];
    for (const f of files.filter((x) => x.path !== 'one byte.bin' && x.path !== 'hash#tag.txt'))
      expected.push(f);
    for (const p of ['hash#tag.txt', 'new 🆕 100%.txt']) {
      const full = join(changed, p);
      expected.push({ path: p, size: statSync(full).size, sha256: await sha256File(full) });
    }
    expect(await diffTree(expected, onServer())).toEqual([]);

    const mirror = join(root, 'mirror');
    const down = await rclone(remote, ['sync', ':webdav:rclone', mirror]);
    expect(down.code, rcloneFailure(down)).toBe(0);
    expect(await diffTree(expected, mirror)).toEqual([]);
    expect(await target.answers()).toBe(true);
  });
});
