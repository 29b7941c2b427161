import { constants, createWriteStream } from 'node:fs';
import { copyFile, lstat, mkdir, open, readdir, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { v2 as webdav } from 'webdav-server';
import { isTempName, openVerifiedTemp, tempNameFor } from '../server/atomic-file.js';

type Path = webdav.Path;
type Callback<T> = (error?: Error, value?: T) => void;
type SimpleCallback = (error?: Error) => void;

const { Errors, ResourceType } = webdav;

/** Maps a Node error to the engine's error values (which decide the status code). */
function engineError(error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return Errors.ResourceNotFound;
  if (code === 'EEXIST' || code === 'ENOTEMPTY') return Errors.ResourceAlreadyExists;
  if (code === 'ENOSPC' || code === 'EDQUOT') return Errors.InsufficientStorage;
  if (code === 'EACCES' || code === 'EPERM' || code === 'ELOOP') return Errors.Forbidden;
  return error instanceof Error ? error : new Error(String(error));
}

function settle<T>(promise: Promise<T>, callback: Callback<T>): void {
  promise.then(
    (value) => callback(undefined, value),
    (error: unknown) => callback(engineError(error)),
  );
}

/** A lock manager that holds nothing: the plugin's own lock manager enforces locks before the engine runs. */
class NoLocks {
  getLocks(callback: Callback<unknown[]>): void {
    callback(undefined, []);
  }
  setLock(_lock: unknown, callback: SimpleCallback): void {
    callback(Errors.Forbidden);
  }
  removeLock(_uuid: string, callback: Callback<boolean>): void {
    callback(undefined, false);
  }
  getLock(_uuid: string, callback: Callback<unknown>): void {
    callback(Errors.ResourceNotFound);
  }
  refresh(_uuid: string, _timeout: number, callback: Callback<unknown>): void {
    callback(Errors.ResourceNotFound);
  }
}

/**
 * The engine's file system for one share: `PhysicalFileSystem` with every operation made safe. Nothing
 * follows a symbolic link (`lstat`, `O_NOFOLLOW`, `fs.rm` removes links, never their targets; links are
 * invisible to the engine's recursive COPY and DELETE), files are written to a temporary name and
 * renamed, an existing resource is never silently replaced on create, and no per-path object is kept
 * in memory (webdav-server's map grew with every path ever touched). Dead properties and locks are the
 * plugin's (`StateDb`, `LockManager`), so the engine gets empty managers.
 */
export class SafeFileSystem extends webdav.PhysicalFileSystem {
  constructor(
    rootReal: string,
    private readonly trackUpload: (temp: string, active: boolean) => void,
  ) {
    super(rootReal);
  }

  private real(path: Path): string {
    // Segments were checked by the guard (no `.`, `..`, `/`, NUL); the engine's Path has no empty ones.
    return join(this.rootPath, ...path.paths);
  }

  protected override _fastExistCheck(_ctx: unknown, path: Path, callback: (exists: boolean) => void): void {
    lstat(this.real(path)).then(
      () => callback(true),
      () => callback(false),
    );
  }

  protected override _create(path: Path, ctx: webdav.CreateInfo, callback: SimpleCallback): void {
    const target = this.real(path);
    if (ctx.type.isDirectory) {
      settle(mkdir(target), callback);
      return;
    }
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    settle(
      open(target, flags, 0o666).then((handle) => handle.close()),
      callback,
    );
  }

  protected override _delete(path: Path, _ctx: webdav.DeleteInfo, callback: SimpleCallback): void {
    // fs.rm removes links themselves, never what they point to.
    settle(rm(this.real(path), { recursive: true, force: false }), callback);
  }

  protected override _move(from: Path, to: Path, ctx: webdav.MoveInfo, callback: Callback<boolean>): void {
    const source = this.real(from);
    const target = this.real(to);
    const run = async (): Promise<boolean> => {
      const existing = await lstat(target).catch(() => undefined);
      if (existing) {
        if (!ctx.overwrite) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
        await rm(target, { recursive: true, force: false });
      }
      await rename(source, target);
      return existing !== undefined;
    };
    settle(run(), callback);
  }

  protected override _copy(from: Path, to: Path, ctx: webdav.CopyInfo, callback: Callback<boolean>): void {
    const source = this.real(from);
    const target = this.real(to);
    const run = async (): Promise<boolean> => {
      const existing = await lstat(target).catch(() => undefined);
      if (existing) {
        if (!ctx.overwrite) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
        await rm(target, { recursive: true, force: false });
      }
      await copyTree(source, target, ctx.depth === 0 ? 0 : -1, this.trackUpload);
      return existing !== undefined;
    };
    settle(run(), callback);
  }

  protected override _openReadStream(
    path: Path,
    _ctx: webdav.OpenReadStreamInfo,
    callback: Callback<Readable>,
  ): void {
    settle(
      open(this.real(path), constants.O_RDONLY | constants.O_NOFOLLOW).then((handle) =>
        handle.createReadStream(),
      ),
      callback,
    );
  }

  protected override _openWriteStream(
    path: Path,
    _ctx: webdav.OpenWriteStreamInfo,
    callback: Callback<Writable>,
  ): void {
    // Used by the engine's cross-share COPY/MOVE: write a temporary file, rename it over the target on finish.
    const target = this.real(path);
    const run = async (): Promise<Writable> => {
      const temp = await openVerifiedTemp(target);
      this.trackUpload(temp.path, true);
      const stream = createWriteStream('', { fd: temp.handle.fd, autoClose: false });
      const finish = stream._final.bind(stream);
      stream._final = (done: (error?: Error | null) => void): void => {
        finish((error?: Error | null) => {
          if (error) return done(error);
          temp
            .commit()
            .then(() => done(), done)
            .finally(() => this.trackUpload(temp.path, false));
        });
      };
      stream.once('error', () => {
        void temp.abort().finally(() => this.trackUpload(temp.path, false));
      });
      return stream;
    };
    settle(run(), callback);
  }

  protected override _readDir(path: Path, _ctx: webdav.ReadDirInfo, callback: Callback<string[]>): void {
    // Links and upload temporaries are not the engine's business (COPY and DELETE recurse with this).
    settle(
      readdir(this.real(path), { withFileTypes: true }).then((entries) =>
        entries
          .filter((entry) => (entry.isFile() || entry.isDirectory()) && !isTempName(entry.name))
          .map((entry) => entry.name),
      ),
      callback,
    );
  }

  protected override _type(path: Path, _ctx: webdav.TypeInfo, callback: Callback<webdav.ResourceType>): void {
    settle(
      lstat(this.real(path)).then((stats) => {
        if (stats.isDirectory()) return ResourceType.Directory;
        if (stats.isFile()) return ResourceType.File;
        throw Object.assign(new Error('not a file or folder'), { code: 'EACCES' });
      }),
      callback,
    );
  }

  protected override _size(path: Path, _ctx: webdav.SizeInfo, callback: Callback<number>): void {
    settle(
      lstat(this.real(path)).then((stats) => stats.size),
      callback,
    );
  }

  protected override _lastModifiedDate(
    path: Path,
    _ctx: webdav.LastModifiedDateInfo,
    callback: Callback<number>,
  ): void {
    settle(
      lstat(this.real(path)).then((stats) => stats.mtimeMs),
      callback,
    );
  }

  protected override _creationDate(
    path: Path,
    _ctx: webdav.CreationDateInfo,
    callback: Callback<number>,
  ): void {
    settle(
      lstat(this.real(path)).then((stats) => stats.birthtimeMs),
      callback,
    );
  }

  protected override _lockManager(
    _path: Path,
    _ctx: webdav.LockManagerInfo,
    callback: Callback<webdav.ILockManager>,
  ): void {
    callback(undefined, new NoLocks() as unknown as webdav.ILockManager);
  }

  protected override _propertyManager(
    _path: Path,
    _ctx: webdav.PropertyManagerInfo,
    callback: Callback<webdav.IPropertyManager>,
  ): void {
    callback(undefined, new webdav.LocalPropertyManager());
  }
}

/** Copies a file or a folder (depth 0: the folder alone) without following or copying links; files atomically. */
async function copyTree(
  source: string,
  target: string,
  depth: 0 | -1,
  trackUpload: (temp: string, active: boolean) => void,
): Promise<void> {
  const stats = await lstat(source);
  if (stats.isFile()) {
    const temp = join(target, '..', tempNameFor());
    trackUpload(temp, true);
    try {
      await copyFile(source, temp, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
      await rename(temp, target);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    } finally {
      trackUpload(temp, false);
    }
    return;
  }
  if (!stats.isDirectory()) return;
  await mkdir(target);
  if (depth === 0) return;
  for (const entry of await readdir(source, { withFileTypes: true })) {
    if (isTempName(entry.name) || !(entry.isFile() || entry.isDirectory())) continue;
    await copyTree(join(source, entry.name), join(target, entry.name), -1, trackUpload);
  }
}

export { NoLocks };
