import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { at, type Dir } from '../access/share-fs.js';

const TEMP_PREFIX = '.beamline-part-';

/** Name of a new temporary file (fixed length, whatever the final name's length). */
export function tempNameFor(): string {
  return `${TEMP_PREFIX}${randomUUID()}`;
}

/** Whether a name is one of the plugin's upload temporaries (hidden from listings, refused in paths). */
export function isTempName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX);
}

/** A temporary file next to its final name, open for writing. */
export interface TempFile {
  /** Real path (for the record of uploads in progress). */
  readonly path: string;
  readonly handle: FileHandle;
  /** fsync, close, rename over the final name (inside the same open directory), fsync the directory. */
  commit(mode?: number): Promise<void>;
  /** Close and remove the temporary file. */
  abort(): Promise<void>;
}

/**
 * Creates a temporary file in an open directory (`O_CREAT | O_EXCL | O_NOFOLLOW`, through the
 * directory's descriptor, so it lands where the guard looked even if the directory's path changed).
 */
export async function createTemp(parent: Dir, finalName: string): Promise<TempFile> {
  const name = tempNameFor();
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const handle = await open(at(parent, name), flags, 0o666);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await handle.close();
  };
  return {
    path: join(parent.real, name),
    handle,
    async commit(mode?: number): Promise<void> {
      try {
        await handle.sync();
        if (mode !== undefined) await handle.chmod(mode & 0o7777);
      } finally {
        await close();
      }
      await rename(at(parent, name), at(parent, finalName));
      await syncDir(parent);
    },
    async abort(): Promise<void> {
      await close().catch(() => undefined);
      await unlink(at(parent, name)).catch(() => undefined);
    },
  };
}

/** fsync of an open directory, so a rename in it is durable. */
export async function syncDir(dir: Dir): Promise<void> {
  // Some file systems refuse fsync on folders; the rename itself is still atomic.
  await dir.handle.sync().catch(() => undefined);
}
