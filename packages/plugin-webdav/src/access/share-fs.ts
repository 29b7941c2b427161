import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  lstatSync,
  openSync,
  readlinkSync,
  type BigIntStats,
} from 'node:fs';
import { lstat, open, readdir, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { HttpError } from '../http/http-error.js';

const DIRECTORY = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const READ_FILE = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const MAX_LINK_HOPS = 8;
const MAX_TREE_DEPTH = 256;

/**
 * Whether the kernel offers `/proc/self/fd`: then a path `/proc/self/fd/<dir>/<name>` names `<name>` in
 * the directory the descriptor holds, whatever happened to that directory's path since it was opened
 * (the `openat` of C, which Node lacks). Without it (not Linux), paths are resolved from the start
 * again and a link swapped in between two steps could be followed.
 */
const PROC_FD = existsSync('/proc/self/fd');

/**
 * `/proc/<pid>/fd/`, the pid read from `/proc/self` itself (so it is this process as that `/proc` mount
 * numbers it, also in a pid namespace): the same folder as `/proc/self/fd/`, without resolving the
 * `self` link on every call (about 0.3 µs of each `lstat` and `open` of the walk). A process never
 * changes its pid, and a forked Node process loads this module anew.
 */
const FD_FOLDER = PROC_FD ? `/proc/${procSelf()}/fd/` : '';

function procSelf(): string {
  try {
    const pid = readlinkSync('/proc/self');
    return /^[1-9][0-9]*$/.test(pid) ? pid : 'self';
  } catch {
    return 'self';
  }
}

/** An open directory and the real path it had when it was opened. */
export interface Dir {
  readonly handle: FileHandle;
  readonly real: string;
}

/** An open directory held as a plain descriptor (the read path), and its real path. */
export interface FdDir {
  readonly fd: number;
  readonly real: string;
}

function fdOf(dir: Dir | FdDir): number {
  return 'handle' in dir ? dir.handle.fd : dir.fd;
}

/** A file or directory opened for reading, and where it really is. */
export interface OpenedRead {
  /** A plain descriptor, open read-only (a regular file, or a directory with `O_DIRECTORY`). */
  readonly fd: number;
  /** Closes `fd` (once: later calls do nothing, so a reused descriptor number is never closed). */
  close(): void;
  /** `fstat` of the opened object (a file or a directory). */
  readonly stats: BigIntStats;
  readonly realPath: string;
  /** Whether a symbolic link was followed on the way. */
  readonly throughLink: boolean;
}

/** Where a write goes: its parent directory, open, and what is at the name now. */
export interface WriteTarget {
  readonly parent: Dir;
  readonly name: string;
  readonly realPath: string;
  /** `lstat` of what is at the name (never a link: those are refused), or undefined. */
  readonly existing: BigIntStats | undefined;
  /** Closes the parent (unless it is the share's own folder, which stays open). */
  close(): Promise<void>;
}

/** `name` inside an open directory, as a path the kernel resolves through the descriptor. */
export function at(dir: Dir | FdDir, name: string): string {
  return PROC_FD ? `${FD_FOLDER}${fdOf(dir)}/${name}` : join(dir.real, name);
}

/** The directory itself, as a path (for `readdir`). */
export function self(dir: Dir | FdDir): string {
  return PROC_FD ? `${FD_FOLDER}${fdOf(dir)}` : dir.real;
}

/**
 * `join(folder, name)` for what the walk joins: a real (absolute, normalized) folder and one plain name
 * (never empty, `.`, `..` or containing `/`), without `join`'s normalization pass.
 */
function childPath(folder: string, name: string): string {
  return folder.endsWith('/') ? `${folder}${name}` : `${folder}/${name}`;
}

/** An {@link OpenedRead}'s close: once only. */
function closerOf(fd: number): () => void {
  let open = true;
  return () => {
    if (!open) return;
    open = false;
    try {
      closeSync(fd);
    } catch {
      // EBADF/EIO on close of a read-only descriptor: nothing was written, nothing to report.
    }
  };
}

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/**
 * `lstat` of a name in an open directory. Synchronous, like the `fstat`s of the walk: a metadata call
 * on a local file system takes microseconds, a round trip through libuv's thread pool several times
 * that, and a GET of a small file made five of them (a share on a slow network file system would stall
 * the event loop on each call instead).
 */
function lstatAt(dir: Dir | FdDir, name: string): BigIntStats | undefined {
  try {
    return lstatSync(at(dir, name), { bigint: true, throwIfNoEntry: false });
  } catch (error) {
    if (['ENOENT', 'ENOTDIR', 'ENAMETOOLONG'].includes(code(error) ?? '')) return undefined;
    throw error;
  }
}

function same(a: BigIntStats, b: BigIntStats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** Thrown inside a walk when what was looked at changed before it was opened (the walk is retried). */
class Changed extends Error {}

/**
 * A share's folder, held open for the server's life, and every path inside it resolved one component
 * at a time through open directory descriptors (`lstat`, then `open` with `O_NOFOLLOW`, then `fstat`
 * compared with the `lstat`): a directory swapped for a link while a request is handled is noticed,
 * never followed. Links are followed only for reads, only when the share allows it, only when relative,
 * and only while every step stays inside the link area (the real parent of the share's folder).
 */
export class ShareFs {
  /** The kept descriptors as the read walk uses them (made once: they stay open for the server's life). */
  private readonly rootFd: FdDir;
  private readonly areaFd: FdDir | undefined;
  private closed = false;

  private constructor(
    /** The share's folder. */
    readonly root: Dir,
    /** The real parent of the share's folder, when links may lead there. */
    readonly area: Dir | undefined,
  ) {
    this.rootFd = { fd: root.handle.fd, real: root.real };
    this.areaFd = area && { fd: area.handle.fd, real: area.real };
  }

  /** Opens a share's folder (and its parent, when links are followed). */
  static async open(rootReal: string, followLinks: boolean): Promise<ShareFs> {
    const root = { handle: await open(rootReal, DIRECTORY), real: rootReal };
    let area: Dir | undefined;
    if (followLinks) {
      const parent = join(rootReal, '..');
      try {
        area = { handle: await open(parent, DIRECTORY), real: parent === '/' ? '/' : join(rootReal, '..') };
      } catch (error) {
        await root.handle.close();
        throw error;
      }
    }
    return new ShareFs(root, area);
  }

  /** Whether symbolic links may be followed (for reads). */
  get followsLinks(): boolean {
    return this.area !== undefined;
  }

  async close(): Promise<void> {
    // From now on the kept descriptor numbers may be reused by any other open: no walk may use them.
    this.closed = true;
    await this.root.handle.close().catch(() => undefined);
    await this.area?.handle.close().catch(() => undefined);
  }

  private async closeOwned(stack: readonly Dir[]): Promise<void> {
    for (const dir of stack)
      if (dir !== this.root && dir !== this.area) await dir.handle.close().catch(() => undefined);
  }

  /** Opens a child directory of an open directory (no link), checking it is what `lstat` saw. */
  async openDir(parent: Dir, name: string, seen: BigIntStats): Promise<Dir> {
    let handle: FileHandle;
    try {
      handle = await open(at(parent, name), DIRECTORY);
    } catch (error) {
      if (['ELOOP', 'ENOTDIR', 'ENOENT'].includes(code(error) ?? '')) throw new Changed();
      throw error;
    }
    const stats = fstatSync(handle.fd, { bigint: true });
    if (!same(stats, seen)) {
      await handle.close();
      throw new Changed();
    }
    return { handle, real: join(parent.real, name) };
  }

  /**
   * Opens what a path leads to, for reading: undefined when nothing is there; 403 for a link that may
   * not be followed (absolute, out of the link area, more than 8 hops, or links off in this share) or
   * for something that is neither a file nor a folder. The caller closes it (`close()`).
   *
   * Synchronous, with plain descriptors: every step (`lstat`, `open` with `O_NOFOLLOW`, `fstat`,
   * `close`) takes microseconds on a local file system, where a round trip through libuv's thread pool
   * (and a `FileHandle`'s bookkeeping) cost several times that per step and, on a loaded machine, a
   * wait for a pool thread and for the main thread to be woken up again. A share on a slow network file
   * system stalls the event loop for the duration of each call instead.
   */
  openRead(segments: readonly string[]): OpenedRead | undefined {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        return this.walkRead(segments);
      } catch (error) {
        if (!(error instanceof Changed)) throw error;
      }
    }
    throw new HttpError(503, 'the path kept changing while it was opened; try again', { 'Retry-After': '1' });
  }

  /** Opens a child directory of an open directory (no link), checking it is what `lstat` saw. */
  private openDirSync(parent: FdDir, name: string, seen: BigIntStats): FdDir {
    let fd: number;
    try {
      fd = openSync(at(parent, name), DIRECTORY);
    } catch (error) {
      if (['ELOOP', 'ENOTDIR', 'ENOENT'].includes(code(error) ?? '')) throw new Changed();
      throw error;
    }
    let stats: BigIntStats;
    try {
      stats = fstatSync(fd, { bigint: true });
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    if (!same(stats, seen)) {
      closeSync(fd);
      throw new Changed();
    }
    return { fd, real: childPath(parent.real, name) };
  }

  private walkRead(segments: readonly string[]): OpenedRead | undefined {
    if (this.closed) throw new HttpError(503, 'the share is closed', { 'Retry-After': '1' });
    const root = this.rootFd;
    const area = this.areaFd;
    // The directories walked through; the first one or two (the share's folder and the link area) are
    // the kept descriptors, the others are owned by this walk and closed at its end.
    const stack: FdDir[] = area ? [area, root] : [root];
    const kept = stack.length;
    const queue = segments.filter((name) => name !== '' && name !== '.');
    let next = 0;
    let hops = 0;
    let throughLink = false;
    try {
      while (next < queue.length) {
        const name = queue[next] as string;
        next += 1;
        if (name === '' || name === '.') continue;
        if (name === '..') {
          // Only link text brings `..` here; it may not climb out of the link area.
          if (stack.length <= 1) throw new HttpError(403, 'a symbolic link leads outside the share');
          const top = stack.pop() as FdDir;
          if (stack.length >= kept) closeSync(top.fd);
          continue;
        }
        const top = stack.at(-1) as FdDir;
        const seen = lstatAt(top, name);
        if (!seen) return undefined;
        if (seen.isSymbolicLink()) {
          if (!area) throw new HttpError(403, 'symbolic links are not followed in this share');
          hops += 1;
          if (hops > MAX_LINK_HOPS) throw new HttpError(403, 'too many symbolic links');
          let target: string;
          try {
            target = readlinkSync(at(top, name));
          } catch {
            throw new Changed();
          }
          if (isAbsolute(target)) throw new HttpError(403, 'absolute symbolic links are not followed');
          throughLink = true;
          queue.splice(next, 0, ...target.split('/'));
          continue;
        }
        if (seen.isDirectory()) {
          stack.push(this.openDirSync(top, name, seen));
          continue;
        }
        if (!seen.isFile()) throw new HttpError(403, 'not a regular file or folder');
        // A file: the last component, or the path goes on through a file (nothing there).
        for (let rest = next; rest < queue.length; rest += 1)
          if (queue[rest] !== '' && queue[rest] !== '.') return undefined;
        let fd: number;
        try {
          fd = openSync(at(top, name), READ_FILE);
        } catch (error) {
          if (['ELOOP', 'ENOENT', 'ENXIO'].includes(code(error) ?? '')) throw new Changed();
          throw error;
        }
        let stats: BigIntStats;
        try {
          stats = fstatSync(fd, { bigint: true });
        } catch (error) {
          closeSync(fd);
          throw error;
        }
        if (!same(stats, seen) || !stats.isFile()) {
          closeSync(fd);
          throw new Changed();
        }
        return { fd, close: closerOf(fd), stats, realPath: childPath(top.real, name), throughLink };
      }
      // The path ends at a directory: hand over the top of the stack (a fresh descriptor if it is a kept one).
      const owned = stack.length > kept;
      const top = stack.pop() as FdDir;
      const fd = owned ? top.fd : openSync(self(top), DIRECTORY & ~constants.O_NOFOLLOW);
      let stats: BigIntStats;
      try {
        stats = fstatSync(fd, { bigint: true });
      } catch (error) {
        closeSync(fd);
        throw error;
      }
      return { fd, close: closerOf(fd), stats, realPath: top.real, throughLink };
    } finally {
      for (const dir of stack.splice(kept)) closeSync(dir.fd);
    }
  }

  /**
   * Opens the parent directory of a path for writing: no link anywhere (403), every parent a folder
   * (409 when one is missing or is a file). `existing` is what is at the name now (a link there is 403
   * too: writes never go through links). The caller closes the target.
   */
  async openParent(segments: readonly string[]): Promise<WriteTarget> {
    if (segments.length === 0) throw new HttpError(403, 'the share itself cannot be written');
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        return await this.walkParent(segments);
      } catch (error) {
        if (!(error instanceof Changed)) throw error;
      }
    }
    throw new HttpError(503, 'the path kept changing while it was opened; try again', { 'Retry-After': '1' });
  }

  private async walkParent(segments: readonly string[]): Promise<WriteTarget> {
    let parent = this.root;
    const release = async (dir: Dir): Promise<void> => {
      if (dir !== this.root) await dir.handle.close().catch(() => undefined);
    };
    try {
      for (const name of segments.slice(0, -1)) {
        const seen = lstatAt(parent, name);
        if (!seen) throw new HttpError(409, 'a parent folder does not exist');
        if (seen.isSymbolicLink()) throw new HttpError(403, 'writes never go through symbolic links');
        if (!seen.isDirectory()) throw new HttpError(409, 'a parent is not a folder');
        const next = await this.openDir(parent, name, seen);
        await release(parent);
        parent = next;
      }
      const name = segments.at(-1) as string;
      const existing = lstatAt(parent, name);
      if (existing?.isSymbolicLink()) throw new HttpError(403, 'writes never go through symbolic links');
      if (existing && !existing.isFile() && !existing.isDirectory())
        throw new HttpError(403, 'not a regular file or folder');
      const held = parent;
      return { parent: held, name, realPath: join(held.real, name), existing, close: () => release(held) };
    } catch (error) {
      await release(parent);
      throw error;
    }
  }

  /** What a write would find at a path (no link on the way), without keeping anything open. */
  async statForWrite(
    segments: readonly string[],
  ): Promise<{ realPath: string; existing: BigIntStats | undefined }> {
    if (segments.length === 0)
      return { realPath: this.root.real, existing: await this.root.handle.stat({ bigint: true }) };
    const target = await this.openParent(segments);
    await target.close();
    return { realPath: target.realPath, existing: target.existing };
  }

  /** Opens a folder for writing into it (no link on the way; 404 when it is missing, 409 when it is a file). */
  async openWritableDir(segments: readonly string[]): Promise<{ dir: Dir; close(): Promise<void> }> {
    if (segments.length === 0) return { dir: this.root, close: () => Promise.resolve() };
    const target = await this.openParent(segments);
    try {
      if (!target.existing) throw new HttpError(404, 'not found');
      if (!target.existing.isDirectory()) throw new HttpError(409, 'not a folder');
      const dir = await this.openDir(target.parent, target.name, target.existing);
      return { dir, close: () => dir.handle.close().catch(() => undefined) };
    } catch (error) {
      if (error instanceof Changed)
        throw new HttpError(503, 'the folder changed while it was opened', { 'Retry-After': '1' });
      throw error;
    } finally {
      await target.close();
    }
  }
}

/**
 * Removes a file or a whole folder inside an open directory, never following a link (links are
 * removed themselves) and never leaving the directory: every level is opened with `O_NOFOLLOW`
 * before its members are removed through it.
 */
export async function removeAt(parent: Dir, name: string, depth = 0): Promise<void> {
  if (depth > MAX_TREE_DEPTH) throw Object.assign(new Error('tree too deep'), { code: 'ELOOP' });
  const stats = await lstat(at(parent, name), { bigint: true });
  if (!stats.isDirectory()) {
    await unlink(at(parent, name));
    return;
  }
  const handle = await open(at(parent, name), DIRECTORY);
  const dir = { handle, real: join(parent.real, name) };
  try {
    const opened = await handle.stat({ bigint: true });
    if (!same(opened, stats))
      throw Object.assign(new Error('the folder changed while it was removed'), { code: 'EBUSY' });
    for (const entry of await readdir(self(dir))) await removeAt(dir, entry, depth + 1);
  } finally {
    await handle.close();
  }
  await rmdir(at(parent, name));
}
