import { constants, existsSync } from 'node:fs';
import { link, lstat, mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { GridError } from '../errors/grid-error.js';
import { printable } from '../errors/printable.js';

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } =
  constants;

/**
 * Linux reaches a name inside an open directory through `/proc/self/fd/<fd>/<name>`: the kernel resolves
 * the directory from the handle, not from its path, so a directory swapped for a link after it was
 * checked cannot redirect a write (what `openat` gives C programs). Elsewhere the checked path is used.
 */
const PROC_FD = process.platform === 'linux' && existsSync('/proc/self/fd');

/** How a name in a directory is opened; every mode refuses to follow a link at the name itself. */
export type OpenMode = 'read' | 'read-write' | 'create' | 'truncate' | 'create-new';

const OPEN_FLAGS: Record<OpenMode, number> = {
  read: O_RDONLY,
  'read-write': O_RDWR,
  create: O_RDWR | O_CREAT,
  truncate: O_RDWR | O_CREAT | O_TRUNC,
  'create-new': O_WRONLY | O_CREAT | O_EXCL,
};

/**
 * A directory inside the job's destination, held open and verified to be a real directory (not a link).
 * Names inside it are opened with `O_NOFOLLOW` (a link there is refused, never followed) and
 * `O_NONBLOCK` (a FIFO planted there cannot hang the job), and only regular files are accepted, so
 * nothing the destination already holds can send a write outside it.
 */
export class SafeDir {
  private readonly via: string;

  private constructor(
    /** The directory's path, for messages and for readers (hashing) that only read. */
    readonly path: string,
    private readonly handle: FileHandle,
  ) {
    this.via = PROC_FD ? `/proc/self/fd/${handle.fd}` : path;
  }

  /**
   * Opens the job's destination directory (created when `create`); the directory itself is the user's
   * choice and may be reached through links. Undefined when it does not exist and `create` is false.
   */
  static async openRoot(path: string, create: boolean): Promise<SafeDir | undefined> {
    if (create) await mkdir(path, { recursive: true });
    try {
      return new SafeDir(path, await open(path, O_RDONLY | O_DIRECTORY));
    } catch (e) {
      if (!create && errno(e) === 'ENOENT') return undefined;
      if (errno(e) === 'ENOTDIR')
        throw new GridError('GRID_DEST_INVALID', `destination ${printable(path)} is not a directory`, {
          cause: e,
        });
      throw e;
    }
  }

  /**
   * Opens the directory at `relative` (components separated by the platform separator) one component
   * at a time, each opened without following links and re-checked after `mkdir`. Undefined when a
   * component is missing and `create` is false; `GRID_DEST_INVALID` when one is a link or not a directory.
   */
  async openDir(relative: string, create: boolean): Promise<SafeDir | undefined> {
    const parts = relative.split(sep).filter((p) => p !== '' && p !== '.');
    let dir: SafeDir | undefined;
    for (const part of parts) {
      const parent = dir;
      try {
        dir = await (parent ?? this).child(part, create);
      } finally {
        await parent?.close();
      }
      if (dir === undefined) return undefined;
    }
    return dir ?? this.reopen();
  }

  /** The path through which the kernel reaches `name` in this directory via the open handle. */
  at(name: string): string {
    return `${this.via}/${checkName(name)}`;
  }

  /** The ordinary path of `name` (messages, read-only consumers). */
  display(name: string): string {
    return join(this.path, name);
  }

  /** Opens `name`, which must be (or become) a regular file, never through a link. */
  async open(name: string, mode: OpenMode, fileMode = 0o644): Promise<FileHandle> {
    const fh = await this.fs(() => open(this.at(name), OPEN_FLAGS[mode] | O_NOFOLLOW | O_NONBLOCK, fileMode));
    const st = await fh.stat().catch(async (e: unknown) => {
      await fh.close();
      throw e;
    });
    if (!st.isFile()) {
      await fh.close();
      throw new GridError('GRID_DEST_INVALID', `${printable(this.display(name))} is not a regular file`);
    }
    return fh;
  }

  /**
   * What is at `name`: a regular file (with its size), nothing, a directory, or something else (a link,
   * a FIFO, a device), which the caller must not use.
   */
  async entry(
    name: string,
  ): Promise<{ kind: 'file'; size: number } | { kind: 'missing' | 'directory' | 'other' }> {
    let fh: FileHandle;
    try {
      fh = await open(this.at(name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (e) {
      return errno(e) === 'ENOENT' ? { kind: 'missing' } : { kind: 'other' };
    }
    try {
      const st = await fh.stat();
      return st.isFile()
        ? { kind: 'file', size: st.size }
        : { kind: st.isDirectory() ? 'directory' : 'other' };
    } finally {
      await fh.close();
    }
  }

  /** Reads a small regular file; undefined when it is missing or not a regular file. */
  async readText(name: string, maxBytes = 1024 * 1024): Promise<string | undefined> {
    let fh: FileHandle;
    try {
      fh = await this.open(name, 'read');
    } catch {
      return undefined;
    }
    try {
      const buf = Buffer.alloc(maxBytes);
      const { bytesRead } = await fh.read(buf, 0, maxBytes, 0);
      return buf.toString('utf8', 0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  /**
   * Replaces `name` with `text` atomically: a fresh temporary file (whatever was at the temporary name,
   * a link included, is removed first and the new one is created exclusively), then a rename.
   */
  async writeAtomic(name: string, text: string, tmpName = `${name}.tmp`): Promise<void> {
    await this.remove(tmpName);
    const fh = await this.open(tmpName, 'create-new');
    try {
      await fh.writeFile(text);
    } finally {
      await fh.close();
    }
    await this.rename(tmpName, name);
  }

  /** Removes `name` (a link itself, never its target); nothing when it is absent. */
  async remove(name: string): Promise<void> {
    await this.fs(() => unlink(this.at(name))).catch((e: unknown) => {
      if (errno(e) !== 'ENOENT') throw e;
    });
  }

  /** Renames within this directory (a link at `to` is replaced, not followed). */
  async rename(from: string, to: string): Promise<void> {
    await this.fs(() => rename(this.at(from), this.at(to)));
  }

  /** Creates `name` as a hard link to `target` (fails when `name` exists). */
  async linkFrom(target: string, name: string): Promise<void> {
    await this.fs(() => link(target, this.at(name)));
  }

  /** fsync of the directory, so renames in it survive a crash; ignored where unsupported. */
  async sync(): Promise<void> {
    await this.handle.sync().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }

  private async child(name: string, create: boolean): Promise<SafeDir | undefined> {
    if (create) {
      await this.fs(() => mkdir(this.at(name), 0o755)).catch((e: unknown) => {
        if (errno(e) !== 'EEXIST') throw e;
      });
    }
    try {
      return new SafeDir(this.display(name), await open(this.at(name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    } catch (e) {
      const code = errno(e);
      if (code === 'ENOENT' && !create) return undefined;
      if (code === 'ELOOP' || code === 'ENOTDIR') {
        const isLink = await lstat(this.at(name)).then(
          (st) => st.isSymbolicLink(),
          () => false,
        );
        const what = isLink ? 'a symbolic link' : 'not a directory';
        throw new GridError(
          'GRID_DEST_INVALID',
          `${printable(this.display(name))} is ${what}; refusing to write through it`,
          { cause: e },
        );
      }
      throw this.rewrite(e);
    }
  }

  private async reopen(): Promise<SafeDir> {
    return new SafeDir(this.path, await open(this.via, O_RDONLY | O_DIRECTORY));
  }

  /** Runs a file-system call, showing the ordinary path instead of the handle's in its error. */
  private async fs<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (e) {
      throw this.rewrite(e);
    }
  }

  private rewrite(e: unknown): unknown {
    if (PROC_FD && e instanceof Error) {
      e.message = e.message.split(this.via).join(this.path);
      const withPath = e as { path?: unknown; dest?: unknown };
      if (typeof withPath.path === 'string') withPath.path = withPath.path.split(this.via).join(this.path);
      if (typeof withPath.dest === 'string') withPath.dest = withPath.dest.split(this.via).join(this.path);
    }
    return e;
  }
}

function checkName(name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new GridError('GRID_DEST_INVALID', `invalid file name ${printable(name)}`);
  }
  return name;
}

function errno(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
