import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';

/** 100 MB (MiB): the large file every round-trip client moves. */
export const LARGE = 100 * 1024 * 1024;

/**
 * The names and sizes every round-trip test moves: 0 bytes, 1 byte, 100 MB, and names with a space,
 * `#`, `%` (also `%41`, which a client or server that decodes twice turns into `A`), `+`, Unicode
 * (composed and combining characters, CJK) and emoji, one of them in a subfolder whose name has them too.
 */
const ROUND_TRIP_FILES: readonly { path: string; size: number }[] = [
  { path: 'empty.bin', size: 0 },
  { path: 'one byte.bin', size: 1 },
  { path: 'large 100MB.bin', size: LARGE },
  { path: 'hash#tag.txt', size: 1000 },
  { path: '100% done.txt', size: 1001 },
  { path: '%41 not A.txt', size: 1002 },
  { path: 'a+b = c & d.txt', size: 1003 },
  { path: 'Ünïcödé café (e\u0301) 日本語.txt', size: 1004 },
  { path: 'emoji 🚀🔬.txt', size: 1005 },
  { path: 'dir with space #1 🙂/nested 100% ✓.txt', size: 2048 },
];

/** A file written by {@link writeTree}, with its digest. */
export interface TreeFile {
  path: string;
  size: number;
  sha256: string;
}

/** Writes random files (streamed, so 100 MB never sits in memory twice) under `root`. */
export async function writeTree(
  root: string,
  files: readonly { path: string; size: number }[] = ROUND_TRIP_FILES,
): Promise<TreeFile[]> {
  const out: TreeFile[] = [];
  for (const f of files) {
    const full = join(root, f.path);
    mkdirSync(dirname(full), { recursive: true });
    const hash = createHash('sha256');
    let left = f.size;
    const source = Readable.from(
      (function* () {
        while (left > 0) {
          const chunk = randomBytes(Math.min(left, 4 * 1024 * 1024));
          left -= chunk.length;
          hash.update(chunk);
          yield chunk;
        }
      })(),
    );
    await pipeline(source, createWriteStream(full));
    out.push({ path: f.path, size: f.size, sha256: hash.digest('hex') });
  }
  return out;
}

/** The SHA-256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every regular file under `root` as `relative path -> {size, sha256}`, sorted by path. */
async function readTree(root: string): Promise<Map<string, { size: number; sha256: string }>> {
  const paths: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile()) paths.push(full);
    }
  };
  walk(root);
  paths.sort();
  const map = new Map<string, { size: number; sha256: string }>();
  for (const p of paths) map.set(relative(root, p), { size: statSync(p).size, sha256: await sha256File(p) });
  return map;
}

/**
 * Differences between the expected files and a tree on disk (missing, extra, wrong size or content),
 * one line each; empty when they match exactly. `ignore` filters out names a client leaves behind on
 * purpose.
 */
export async function diffTree(
  expected: readonly TreeFile[],
  root: string,
  ignore: (path: string) => boolean = () => false,
): Promise<string[]> {
  const actual = await readTree(root);
  const problems: string[] = [];
  for (const f of expected) {
    const a = actual.get(f.path);
    if (!a) problems.push(`missing: ${f.path}`);
    else if (a.size !== f.size) problems.push(`size of ${f.path}: ${a.size}, expected ${f.size}`);
    else if (a.sha256 !== f.sha256) problems.push(`content of ${f.path} differs`);
    actual.delete(f.path);
  }
  for (const extra of actual.keys()) if (!ignore(extra)) problems.push(`unexpected: ${extra}`);
  return problems;
}
