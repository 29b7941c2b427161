import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CHECKSUM_ALGORITHMS, type Checksums } from '../checksums/checksum-format.js';
import { partNames } from '../files/part-file.js';
import type { SafeDir } from '../files/safe-dir.js';

/** A verified object in the cache. */
export interface CacheEntry {
  readonly path: string;
  readonly size: number;
  readonly checksums: Checksums;
}

interface EntryMeta {
  size: number;
  mtimeMs: number;
  ino: number;
  checksums: Checksums;
}

/**
 * A content cache shared between jobs, keyed by checksum (`sha256-<hex>`, `adler32-<hex>`, `md5-<hex>`),
 * or by logical name + size when the input has no checksum (AliceTraINT lists carry only sizes; ALICE
 * LFNs are immutable). Entries are hard links to verified files, so adding one costs no space, and a
 * sidecar records size, mtime and inode: a destination modified in place (which shares the inode)
 * changes them and the entry is dropped instead of served.
 */
export class ChecksumCache {
  private readonly objects: string;

  constructor(readonly dir: string) {
    this.objects = join(dir, 'objects');
  }

  /** The keys a file can be found under, best first. */
  static keys(name: string, size: number | undefined, checksums: Checksums): string[] {
    const keys = CHECKSUM_ALGORITHMS.flatMap((alg) =>
      checksums[alg] !== undefined ? [`${alg}-${checksums[alg]}`] : [],
    );
    if (keys.length === 0 && size !== undefined) {
      keys.push(`name-${createHash('sha256').update(`${name}\0${size}`).digest('hex')}`);
    }
    return keys;
  }

  /** A valid entry for one of the keys, or undefined. */
  async lookup(keys: readonly string[], size: number | undefined): Promise<CacheEntry | undefined> {
    for (const key of keys) {
      const path = join(this.objects, key);
      const meta = await readFile(`${path}.json`, 'utf8').then(
        (t) => JSON.parse(t) as EntryMeta,
        () => undefined,
      );
      if (!meta) continue;
      const st = await stat(path).catch(() => undefined);
      if (
        !st ||
        st.size !== meta.size ||
        st.mtimeMs !== meta.mtimeMs ||
        st.ino !== meta.ino ||
        (size !== undefined && size !== meta.size)
      ) {
        await this.drop(key);
        continue;
      }
      return { path, size: meta.size, checksums: meta.checksums };
    }
    return undefined;
  }

  /** Adds a verified file under all its keys (hard links; a failure only means no cache entry). */
  async insert(file: string, keys: readonly string[], checksums: Checksums): Promise<void> {
    await mkdir(this.objects, { recursive: true });
    const st = await stat(file);
    const meta: EntryMeta = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, checksums };
    for (const key of keys) {
      const path = join(this.objects, key);
      const tmp = `${path}.${process.pid}.tmp`;
      try {
        await rm(tmp, { force: true });
        try {
          await link(file, tmp);
        } catch {
          // Another file system: a copy keeps the cache usable (with its own inode).
          await copyFile(file, tmp);
          const cst = await stat(tmp);
          meta.ino = cst.ino;
          meta.mtimeMs = cst.mtimeMs;
        }
        await rename(tmp, path);
        await writeFile(`${path}.json`, JSON.stringify(meta));
      } catch {
        await rm(tmp, { force: true });
      }
    }
  }

  /**
   * Puts a cache entry at `name` in a checked destination directory: a hard link (free, instant), or a
   * copy across file systems; through a fresh temporary name and a rename, so the destination never
   * shows a half-copied file and nothing at those names (a link) is followed.
   */
  async materialize(entry: CacheEntry, dir: SafeDir, name: string): Promise<'link' | 'copy'> {
    const tmp = partNames(name).cacheTmp;
    await dir.remove(tmp);
    let how: 'link' | 'copy' = 'link';
    try {
      await dir.linkFrom(entry.path, tmp);
    } catch {
      how = 'copy';
      await dir.remove(tmp);
      await copyFile(entry.path, dir.at(tmp), constants.COPYFILE_EXCL);
    }
    await dir.rename(tmp, name);
    await dir.sync();
    return how;
  }

  private async drop(key: string): Promise<void> {
    const path = join(this.objects, key);
    await Promise.all([rm(path, { force: true }), rm(`${path}.json`, { force: true })]);
  }
}
