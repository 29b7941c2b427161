import { createReadStream, createWriteStream, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type FileStat, type WebDAVClient } from 'webdav';
import { tempDir } from '../support/peers/folders.js';
import { clientTargets, startTarget, targetAvailable, type Target } from '../support/peers/target.js';
import { diffTree, LARGE, writeTree, type TreeFile } from './harness/files.js';
import { clientLayout, READER, WRITER, type ClientLayout } from './harness/layout.js';

const targets = clientTargets().filter(targetAvailable);

describe.skipIf(targets.length === 0).each(targets)('the webdav npm client (5.x) against %s', (kind) => {
  let root: string;
  let layout: ClientLayout;
  let target: Target;
  let source: string;
  let files: TreeFile[];
  let client: WebDAVClient;

  beforeAll(async () => {
    root = tempDir(`npm-${kind}`);
    layout = clientLayout(join(root, 'share'));
    source = join(root, 'source');
    files = await writeTree(source);
    target = await startTarget(kind, layout.spec, join(root, 'server'));
    client = createClient(`${target.url}/dav`, { username: WRITER.name, password: WRITER.password });
  });
  afterAll(async () => {
    await target?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('uploads (streams) and downloads the tree: 0 B, 1 B, 100 MB, special and Unicode names', async () => {
    for (const dir of new Set(files.map((f) => dirname(`/npm/${f.path}`)))) {
      await client.createDirectory(dir, { recursive: true });
    }
    for (const f of files) {
      const ok = await client.putFileContents(`/npm/${f.path}`, createReadStream(join(source, f.path)), {
        contentLength: f.size,
        overwrite: true,
      });
      expect(ok, f.path).toBe(true);
    }
    expect(await diffTree(files, join(layout.folders.dav, 'npm'))).toEqual([]);

    const down = join(root, 'download');
    for (const f of files) {
      mkdirSync(dirname(join(down, f.path)), { recursive: true });
      await pipeline(
        client.createReadStream(`/npm/${f.path}`) as Readable,
        createWriteStream(join(down, f.path)),
      );
    }
    expect(await diffTree(files, down)).toEqual([]);
  });

  it('lists names, sizes and ETags (PROPFIND Depth 1) exactly as stored', async () => {
    const entries = await client.getDirectoryContents('/npm');
    const top = files.filter((f) => !f.path.includes('/'));
    expect(
      entries
        .filter((e) => e.type === 'file')
        .map((e) => e.basename)
        .sort(),
    ).toEqual(top.map((f) => f.path).sort());
    for (const f of top) {
      const e = entries.find((x) => x.basename === f.path)!;
      expect(e.size, f.path).toBe(f.size);
      expect(e.filename).toBe(`/npm/${f.path}`);
      expect(e.etag, f.path).toBeTruthy();
    }
    const stat = (await client.stat('/npm/large 100MB.bin')) as FileStat;
    expect(stat.size).toBe(LARGE);
    expect(new Date(stat.lastmod).getTime()).toBeGreaterThan(Date.now() - 3_600_000);
  });

  it('reads a byte range (the last 10 bytes of 100 MB)', async () => {
    const all = readFileSync(join(source, 'large 100MB.bin'));
    const chunks: Buffer[] = [];
    for await (const c of client.createReadStream('/npm/large 100MB.bin', {
      range: { start: LARGE - 10, end: LARGE - 1 },
    }) as Readable)
      chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(all.subarray(LARGE - 10))).toBe(true);
  });

  it('copies, moves and deletes with special names', async () => {
    await client.copyFile('/npm/hash#tag.txt', '/npm/copy of #tag 100%.txt');
    await client.moveFile('/npm/copy of #tag 100%.txt', '/npm/dir with space #1 🙂/moved ✓.txt');
    expect(await client.exists('/npm/copy of #tag 100%.txt')).toBe(false);
    const moved = (await client.getFileContents('/npm/dir with space #1 🙂/moved ✓.txt')) as Buffer;
    expect(moved.equals(readFileSync(join(source, 'hash#tag.txt')))).toBe(true);
    await client.deleteFile('/npm/dir with space #1 🙂/moved ✓.txt');
    expect(await client.exists('/npm/dir with space #1 🙂/moved ✓.txt')).toBe(false);
  });

  it('locks a file, is refused a write without the token, unlocks with <token>', async () => {
    const path = '/npm/emoji 🚀🔬.txt';
    const lock = await client.lock(path);
    expect(lock.token).toBeTruthy();
    const other = createClient(`${target.url}/dav`, { username: WRITER.name, password: WRITER.password });
    await expect(other.putFileContents(path, 'no token')).rejects.toMatchObject({ status: 423 });
    // The client puts the token as given into Lock-Token, which needs the brackets (reference §9).
    await client.unlock(path, `<${lock.token}>`);
    expect(await other.putFileContents(path, 'after unlock')).toBe(true);
  });

  it('quota (RFC 4331): named properties answered by the plugin (Apache 2.4 has none), never in allprop', async () => {
    const propfind = async (body: string) => {
      const res = (await client.customRequest('/', {
        method: 'PROPFIND',
        headers: { Depth: '0', 'Content-Type': 'application/xml; charset=utf-8' },
        data: body,
      })) as Response;
      expect(res.status).toBe(207);
      return res.text();
    };
    const named = await propfind(
      '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop>' +
        '<d:quota-available-bytes/><d:quota-used-bytes/></d:prop></d:propfind>',
    );
    const available = /<(?:\w+:)?quota-available-bytes>(\d+)</.exec(named)?.[1];
    const used = /<(?:\w+:)?quota-used-bytes>(\d+)</.exec(named)?.[1];
    // RFC 4331 §2: allprop SHOULD NOT carry them, so the client's getQuota() (an allprop PROPFIND)
    // gets null from both servers; a client must name them.
    expect(await client.getQuota()).toBeNull();
    if (kind === 'plugin') {
      expect(Number(available), named).toBeGreaterThan(0);
      expect(Number(used), named).toBeGreaterThanOrEqual(0);
      const names = await propfind(
        '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:propname/></d:propfind>',
      );
      expect(names, 'RFC 4331 §2: the quota property names MUST be in a propname answer').toMatch(
        /quota-available-bytes[\s\S]*quota-used-bytes|quota-used-bytes[\s\S]*quota-available-bytes/,
      );
    } else {
      expect(available).toBeUndefined();
      expect(named).toMatch(/404 Not Found/);
    }
  });

  it('a read-only user can read and is refused writes', async () => {
    const reader = createClient(`${target.url}/dav`, { username: READER.name, password: READER.password });
    expect(((await reader.getFileContents('/npm/one byte.bin')) as Buffer).length).toBe(1);
    const refused: unknown = await reader.putFileContents('/npm/by reader.txt', 'x').catch((e: unknown) => e);
    expect([401, 403]).toContain((refused as { status?: number }).status);
    expect(await client.exists('/npm/by reader.txt')).toBe(false);
  });
});
