import { randomUUID } from 'node:crypto';
import { constants, type BigIntStats } from 'node:fs';
import { open, readlink, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { HttpError } from '../http/http-error.js';

const TEMP_PREFIX = '.beamline-part-';

/** Name of a new temporary file (fixed length, whatever the final name's length). */
export function tempNameFor(): string {
  return `${TEMP_PREFIX}${randomUUID()}`;
}

/** Whether a name is one of the plugin's upload temporaries (hidden from listings, refused in paths). */
export function isTempName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX);
}

/** Where an open file really is, from the kernel (`/proc/self/fd`); undefined where there is no /proc. */
export async function openedPath(handle: FileHandle): Promise<string | undefined> {
  try {
    return await readlink(`/proc/self/fd/${handle.fd}`);
  } catch {
    return undefined;
  }
}

/** A temporary file next to its final name, open for writing. */
export interface TempFile {
  readonly path: string;
  readonly handle: FileHandle;
  /** fsync, close, rename over the final name, fsync the folder. */
  commit(mode?: number): Promise<void>;
  /** Close and remove the temporary file. */
  abort(): Promise<void>;
}

/**
 * Creates a temporary file in the folder of `target` (`O_CREAT | O_EXCL | O_NOFOLLOW`) and checks with
 * the kernel that it was created where the guard checked (a folder swapped for a link after the check
 * would put it elsewhere: then it is removed and the request refused with 403).
 */
export async function openVerifiedTemp(target: string): Promise<TempFile> {
  const folder = dirname(target);
  const path = join(folder, tempNameFor());
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const handle = await open(path, flags, 0o666);
  const actual = await openedPath(handle);
  if (actual !== undefined && actual !== path) {
    await handle.close().catch(() => undefined);
    // Remove what was created, where it really is (it is ours: a fresh O_EXCL name).
    await unlink(actual).catch(() => undefined);
    throw new HttpError(403, 'the folder changed while the request was handled');
  }
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await handle.close();
  };
  return {
    path,
    handle,
    async commit(mode?: number): Promise<void> {
      try {
        await handle.sync();
        if (mode !== undefined) await handle.chmod(mode & 0o7777);
      } finally {
        await close();
      }
      await rename(path, target);
      await syncFolder(folder);
    },
    async abort(): Promise<void> {
      await close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
    },
  };
}

/** fsync of a folder, so a rename in it is durable. */
export async function syncFolder(folder: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(folder, constants.O_RDONLY | constants.O_DIRECTORY);
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on folders; the rename itself is still atomic.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * Opens a file the guard resolved, read-only, without following a link as its last component, and
 * checks that the opened file is the one the guard looked at (same device and inode): a link or another
 * file swapped in meanwhile is never read. Undefined when the file changed (the caller resolves again).
 */
export async function openResolved(
  realPath: string,
  expected: BigIntStats,
): Promise<{ handle: FileHandle; stats: BigIntStats } | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(realPath, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
  try {
    const stats = await handle.stat({ bigint: true });
    if (stats.dev !== expected.dev || stats.ino !== expected.ino || !stats.isFile()) {
      await handle.close();
      return undefined;
    }
    return { handle, stats };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}
