import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDownload, tempDir } from '../../test/support/fixtures.js';
import { startFileServer, type FileServer } from '../../test/support/file-server.js';
import { adler32, formatAdler32 } from '../checksums/adler32.js';
import { parseInput } from '../inputs/load-input.js';

// File names and list keys come from catalogues and users. Names of Object.prototype's members, and
// `__proto__`, are ordinary file names: every one is fetched, verified and written under its own name;
// a checksum entry named `__proto__` is an unknown algorithm like any other.

const NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];

describe('file names users choose', () => {
  let server: FileServer;
  let root: string;
  const data = new Map(NAMES.map((name) => [name, randomBytes(64 * 1024 + NAMES.indexOf(name))]));

  beforeAll(async () => {
    root = tempDir('names');
    server = await startFileServer();
    for (const [name, bytes] of data) server.setFile(name, bytes);
  });
  afterAll(async () => {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  });

  const adler = (name: string) => formatAdler32(adler32(data.get(name)!));

  it.each([
    [
      'a JSON list',
      () =>
        `{"files": [${NAMES.map(
          (name) =>
            `{"name": "${name}", "url": "${server.url(name)}", "checksums": {"__proto__": "x", "adler32": "${adler(name)}"}}`,
        ).join(', ')}]}`,
    ],
    [
      'a Metalink',
      () =>
        `<?xml version="1.0"?><metalink xmlns="urn:ietf:params:xml:ns:metalink">${NAMES.map(
          (name) =>
            `<file name="${name}"><hash type="__proto__">x</hash><hash type="adler32">${adler(name)}</hash><url>${server.url(name)}</url></file>`,
        ).join('')}</metalink>`,
    ],
  ])('from %s: every file is downloaded, verified and written under its name', async (what, input) => {
    const files = parseInput(input(), what);
    expect(files.map((file) => [file.name, file.dest, file.checksums])).toEqual(
      NAMES.map((name) => [name, name, { adler32: adler(name) }]),
    );
    const dest = join(root, what.replace(/\W/g, '-'));
    for (const segments of [1, 4]) {
      const { events, error } = await runDownload(files, {
        dest: join(dest, String(segments)),
        segments,
        segmentMinSize: 1,
      });
      expect(error).toBeUndefined();
      const done = events.flatMap((event) => (event.type === 'file-done' ? [event.file.name] : []));
      expect(done.sort()).toEqual([...NAMES].sort());
      expect(readdirSync(join(dest, String(segments))).sort()).toEqual([...NAMES].sort());
      for (const name of NAMES)
        expect(readFileSync(join(dest, String(segments), name))).toEqual(data.get(name));
    }
  });
});
