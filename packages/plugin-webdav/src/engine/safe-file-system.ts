import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, type FileHandle } from 'node:fs/promises';
import { Writable, type Readable } from 'node:stream';
import { v2 as webdav } from 'webdav-server';
import { at, removeAt, self, type Dir, type ShareFs, type WriteTarget } from '../access/share-fs.js';
import { isHttpError } from '../http/http-error.js';
import { createTemp, isTempName } from '../server/atomic-file.js';

type Path = webdav.Path;
type Callback<T> = (error?: Error, value?: T) => void;
type SimpleCallback = (error?: Error) => void;

const { Errors, ResourceType } = webdav;
const COPY_CHUNK = 1024 * 1024;
const MAX_TREE_DEPTH = 256;

/** Maps a Node or guard error to the engine's error values (which decide the status code). */
function engineError(error: unknown): Error {
  if (isHttpError(error)) {
    if (error.status === 404) return Errors.ResourceNotFound;
    if (error.status === 409) return Errors.IntermediateResourceMissing;
    return Errors.Forbidden;
  }
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

function exists(): Error {
  return Object.assign(new Error('exists'), { code: 'EEXIST' });
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

async function withParent<T>(fs: ShareFs, path: Path, run: (target: WriteTarget) => Promise<T>): Promise<T> {
  const target = await fs.openParent(path.paths);
  try {
    return await run(target);
  } finally {
    await target.close();
  }
}

/**
 * The engine's file system for one share: `PhysicalFileSystem` with every operation done through the
 * share's open directories ({@link ShareFs}): nothing follows a symbolic link, a folder swapped for a
 * link while the engine works is noticed (the operation fails) rather than followed, recursive DELETE
 * and COPY descend through opened folders only, links are removed (DELETE) or skipped (COPY), files are
 * written to a temporary name and renamed, and create never replaces. Dead properties and locks are
 * the plugin's (`StateDb`, `LockManager`), so the engine gets empty managers and keeps no per-path
 * objects (webdav-server's map grew with every path ever touched).
 */
export class SafeFileSystem extends webdav.PhysicalFileSystem {
  constructor(
    private readonly share: ShareFs,
    private readonly trackUpload: (temp: string, active: boolean) => void,
  ) {
    super(share.root.real);
  }

  private async stat(path: Path) {
    return (await this.share.statForWrite(path.paths)).existing;
  }

  protected override _fastExistCheck(_ctx: unknown, path: Path, callback: (exists: boolean) => void): void {
    this.stat(path).then(
      (stats) => callback(stats !== undefined),
      () => callback(false),
    );
  }

  protected override _create(path: Path, ctx: webdav.CreateInfo, callback: SimpleCallback): void {
    const run = withParent(this.share, path, async ({ parent, name }) => {
      if (ctx.type.isDirectory) {
        await mkdir(at(parent, name));
        return;
      }
      const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
      await (await open(at(parent, name), flags, 0o666)).close();
    });
    settle(run, callback);
  }

  protected override _delete(path: Path, _ctx: webdav.DeleteInfo, callback: SimpleCallback): void {
    settle(
      withParent(this.share, path, ({ parent, name }) => removeAt(parent, name)),
      callback,
    );
  }

  protected override _move(from: Path, to: Path, ctx: webdav.MoveInfo, callback: Callback<boolean>): void {
    const run = withParent(this.share, from, (source) =>
      withParent(this.share, to, async (target) => {
        if (!source.existing) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
        if (target.existing) {
          if (!ctx.overwrite) throw exists();
          await removeAt(target.parent, target.name);
        }
        await rename(at(source.parent, source.name), at(target.parent, target.name));
        return target.existing !== undefined;
      }),
    );
    settle(run, callback);
  }

  protected override _copy(from: Path, to: Path, ctx: webdav.CopyInfo, callback: Callback<boolean>): void {
    const run = withParent(this.share, from, (source) =>
      withParent(this.share, to, async (target) => {
        if (!source.existing) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
        if (target.existing) {
          if (!ctx.overwrite) throw exists();
          await removeAt(target.parent, target.name);
        }
        await copyAt(
          source.parent,
          source.name,
          target.parent,
          target.name,
          ctx.depth === 0 ? 0 : -1,
          this.trackUpload,
          0,
        );
        return target.existing !== undefined;
      }),
    );
    settle(run, callback);
  }

  protected override _openReadStream(
    path: Path,
    _ctx: webdav.OpenReadStreamInfo,
    callback: Callback<Readable>,
  ): void {
    const run = withParent(this.share, path, async ({ parent, name, existing }) => {
      const handle = await open(at(parent, name), constants.O_RDONLY | constants.O_NOFOLLOW);
      const stats = await handle.stat({ bigint: true });
      if (!existing || stats.ino !== existing.ino || !stats.isFile()) {
        await handle.close();
        throw Object.assign(new Error('changed'), { code: 'ENOENT' });
      }
      return handle.createReadStream();
    });
    settle(run, callback);
  }

  protected override _openWriteStream(
    path: Path,
    _ctx: webdav.OpenWriteStreamInfo,
    callback: Callback<Writable>,
  ): void {
    // Used by the engine's cross-share COPY/MOVE: a temporary file, renamed over the target on finish.
    const run = async (): Promise<Writable> => {
      const target = await this.share.openParent(path.paths);
      let temp;
      try {
        temp = await createTemp(target.parent, target.name);
      } catch (error) {
        await target.close();
        throw error;
      }
      const file = temp;
      this.trackUpload(file.path, true);
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        this.trackUpload(file.path, false);
        void target.close();
      };
      const stream = new Writable({
        highWaterMark: COPY_CHUNK,
        write(chunk: Buffer, _encoding, next) {
          file.handle.write(chunk).then(() => next(), next);
        },
        final(next) {
          file
            .commit()
            .then(() => next(), next)
            .finally(release);
        },
        destroy(error, next) {
          if (released) return next(error);
          file
            .abort()
            .finally(release)
            .then(() => next(error), next);
        },
      });
      // The engine pipes the source into this stream and never ends it when the source fails: a stream
      // unpiped before its end is an aborted copy (the temporary file is removed, the target untouched).
      stream.on('unpipe', () => {
        setImmediate(() => {
          if (!stream.writableEnded) stream.destroy(new Error('the copy source failed'));
        });
      });
      return stream;
    };
    settle(run(), callback);
  }

  protected override _readDir(path: Path, _ctx: webdav.ReadDirInfo, callback: Callback<string[]>): void {
    // Links and upload temporaries are not the engine's business (COPY and DELETE recurse with this).
    const run = async (): Promise<string[]> => {
      const opened = await this.share.openWritableDir(path.paths);
      try {
        const entries = await readdir(self(opened.dir), { withFileTypes: true });
        return entries
          .filter((entry) => (entry.isFile() || entry.isDirectory()) && !isTempName(entry.name))
          .map((entry) => entry.name);
      } finally {
        await opened.close();
      }
    };
    settle(run(), callback);
  }

  protected override _type(path: Path, _ctx: webdav.TypeInfo, callback: Callback<webdav.ResourceType>): void {
    settle(
      this.stat(path).then((stats) => {
        if (stats?.isDirectory()) return ResourceType.Directory;
        if (stats?.isFile()) return ResourceType.File;
        throw Object.assign(new Error('missing'), { code: 'ENOENT' });
      }),
      callback,
    );
  }

  protected override _size(path: Path, _ctx: webdav.SizeInfo, callback: Callback<number>): void {
    settle(
      this.stat(path).then((stats) => Number(stats?.size ?? 0n)),
      callback,
    );
  }

  protected override _lastModifiedDate(
    path: Path,
    _ctx: webdav.LastModifiedDateInfo,
    callback: Callback<number>,
  ): void {
    settle(
      this.stat(path).then((stats) => Number(stats?.mtimeMs ?? 0n)),
      callback,
    );
  }

  protected override _creationDate(
    path: Path,
    _ctx: webdav.CreationDateInfo,
    callback: Callback<number>,
  ): void {
    settle(
      this.stat(path).then((stats) => Number(stats?.birthtimeMs ?? 0n)),
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

async function copyHandles(source: FileHandle, target: FileHandle): Promise<void> {
  const buffer = Buffer.allocUnsafe(COPY_CHUNK);
  for (;;) {
    const { bytesRead } = await source.read(buffer, 0, COPY_CHUNK, null);
    if (bytesRead === 0) return;
    await target.write(buffer, 0, bytesRead);
  }
}

/**
 * Copies `name` of one open directory to `targetName` of another: a file through a temporary name
 * (atomic), a folder member by member through opened folders (depth 0: the folder alone); links and
 * upload temporaries are skipped, never followed.
 */
async function copyAt(
  sourceParent: Dir,
  name: string,
  targetParent: Dir,
  targetName: string,
  depth: 0 | -1,
  trackUpload: (temp: string, active: boolean) => void,
  level: number,
): Promise<void> {
  if (level > MAX_TREE_DEPTH) throw Object.assign(new Error('tree too deep'), { code: 'ELOOP' });
  const stats = await lstat(at(sourceParent, name), { bigint: true });
  if (stats.isFile()) {
    const source = await open(at(sourceParent, name), constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const temp = await createTemp(targetParent, targetName);
      trackUpload(temp.path, true);
      try {
        await copyHandles(source, temp.handle);
        await temp.commit();
      } catch (error) {
        await temp.abort();
        throw error;
      } finally {
        trackUpload(temp.path, false);
      }
    } finally {
      await source.close();
    }
    return;
  }
  if (!stats.isDirectory()) return;
  await mkdir(at(targetParent, targetName));
  if (depth === 0) return;
  const flags = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
  const from = { handle: await open(at(sourceParent, name), flags), real: `${sourceParent.real}/${name}` };
  try {
    const to = {
      handle: await open(at(targetParent, targetName), flags),
      real: `${targetParent.real}/${targetName}`,
    };
    try {
      for (const entry of await readdir(self(from), { withFileTypes: true })) {
        if (isTempName(entry.name) || !(entry.isFile() || entry.isDirectory())) continue;
        await copyAt(from, entry.name, to, entry.name, -1, trackUpload, level + 1);
      }
    } finally {
      await to.handle.close();
    }
  } finally {
    await from.handle.close();
  }
}
