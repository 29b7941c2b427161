import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, realpath, rename } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { at, removeAt, ShareFs, type WriteTarget } from '../access/share-fs.js';
import type { ShareConfig } from '../config/share-config.js';
import { WebdavError } from '../errors/webdav-error.js';
import { isHttpError } from '../http/http-error.js';
import { encodePath } from '../http/request-path.js';
import { isTempName, syncDir, tempNameFor } from '../server/atomic-file.js';

/** What to publish where. */
export interface PublishRequest {
  /** URL path of the share (`/data`). */
  readonly share: string;
  /** Path inside the share (`results/team-a/v1`); parent folders are created. */
  readonly dest: string;
  /** Absolute path of the file or folder to publish (never followed through links). */
  readonly source: string;
  /** Replace what is at `dest` (default: refuse). */
  readonly overwrite?: boolean;
  /** Write a `SHA256SUMS` file into a published folder (default true). */
  readonly manifest?: boolean;
  readonly signal?: AbortSignal;
  /** Bytes copied so far, of the total. */
  readonly onProgress?: (copied: number, total: number) => void;
}

/** A published file. */
export interface PublishedFile {
  /** Path relative to the published folder (the file's name for a single file). */
  readonly name: string;
  /** Absolute host path in the share. */
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

/** What was published. */
export interface PublishResult {
  /** URL path of the published resource, relative to the server (`/data/results/team-a/v1`). */
  readonly urlPath: string;
  /** Absolute host path. */
  readonly path: string;
  readonly files: readonly PublishedFile[];
  readonly bytes: number;
}

// eslint-disable-next-line no-control-regex
const BAD_NAME = /[\u0000-\u001f\u007f\\]/;
const COPY_CHUNK = 1024 * 1024;

function fail(message: string, cause?: unknown): WebdavError {
  return new WebdavError('WEBDAV_PUBLISH_FAILED', message, cause === undefined ? {} : { cause });
}

interface SourceFile {
  readonly absolute: string;
  readonly name: string;
  readonly size: number;
}

async function listSource(
  source: string,
): Promise<{ kind: 'file' | 'folder'; files: SourceFile[]; folders: string[] }> {
  const top = await lstat(source).catch((error: unknown) => {
    throw fail(`cannot publish ${source}: ${(error as Error).message}`, error);
  });
  if (top.isSymbolicLink())
    throw fail(`cannot publish ${source}: it is a symbolic link (only files and folders are published)`);
  if (top.isFile())
    return {
      kind: 'file',
      files: [{ absolute: source, name: source.split(sep).at(-1) ?? '', size: top.size }],
      folders: [],
    };
  if (!top.isDirectory()) throw fail(`cannot publish ${source}: not a regular file or folder`);
  const files: SourceFile[] = [];
  const folders: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      const name = relative(source, path).split(sep).join('/');
      if (entry.isSymbolicLink())
        throw fail(
          `cannot publish ${source}: ${name} is a symbolic link (only files and folders are published)`,
        );
      if (entry.isDirectory()) {
        folders.push(name);
        await walk(path);
      } else if (entry.isFile()) files.push({ absolute: path, name, size: (await lstat(path)).size });
      else throw fail(`cannot publish ${source}: ${name} is not a regular file or folder`);
    }
  };
  await walk(source);
  return { kind: 'folder', files, folders };
}

/** Copies a file (no link followed) while hashing it, fsyncs the copy; returns its SHA-256. */
async function copyHashed(
  from: string,
  to: string,
  signal: AbortSignal | undefined,
  onBytes: (n: number) => void,
): Promise<string> {
  const input = await open(from, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const output = await open(
      to,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o644,
    );
    try {
      const hash = createHash('sha256');
      const buffer = Buffer.allocUnsafe(COPY_CHUNK);
      for (;;) {
        signal?.throwIfAborted();
        const { bytesRead } = await input.read(buffer, 0, COPY_CHUNK, null);
        if (bytesRead === 0) break;
        const chunk = buffer.subarray(0, bytesRead);
        hash.update(chunk);
        await output.write(chunk);
        onBytes(bytesRead);
      }
      await output.sync();
      return hash.digest('hex');
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
}

/**
 * Places a file or a folder into a share, atomically: everything is copied (links refused, each file
 * hashed with SHA-256 and fsync'd) into a hidden temporary name next to the destination, a folder gets
 * a `SHA256SUMS` manifest, and one rename makes it appear. Readers see the old content or the new one,
 * never a half-copied tree; an abort leaves nothing behind.
 *
 * @throws WebdavError `WEBDAV_PUBLISH_FAILED`
 */
export async function publishToShare(config: ShareConfig, request: PublishRequest): Promise<PublishResult> {
  const share = config.shares.find((item) => item.path === request.share);
  if (!share)
    throw fail(
      `no share ${request.share}; the shares are ${config.shares.map((item) => item.path).join(', ')}`,
    );
  const segments = request.dest.split('/').filter((segment) => segment !== '');
  if (segments.length === 0) throw fail('dest must name a file or folder inside the share');
  for (const segment of segments)
    if (segment === '.' || segment === '..' || BAD_NAME.test(segment) || isTempName(segment))
      throw fail(`dest ${JSON.stringify(request.dest)}: ${JSON.stringify(segment)} is not a valid name`);
  const rootReal = await realpath(share.root).catch((error: unknown) => {
    throw fail(`share ${share.path}: folder ${share.root} is not usable`, error);
  });
  const fs = await ShareFs.open(rootReal, false);
  try {
    // Parent folders, created one at a time through the opened folder above, never through a link.
    for (let depth = 1; depth < segments.length; depth += 1) {
      const step = await openTarget(fs, share.path, segments.slice(0, depth));
      try {
        if (!step.existing)
          await mkdir(at(step.parent, step.name)).catch((error: NodeJS.ErrnoException) => {
            if (error.code !== 'EEXIST')
              throw fail(`cannot create ${step.realPath}: ${error.message}`, error);
          });
        else if (!step.existing.isDirectory())
          throw fail(`${segments.slice(0, depth).join('/')} in ${share.path} is not a folder`);
      } finally {
        await step.close();
      }
    }
    const target = await openTarget(fs, share.path, segments);
    try {
      if (target.existing && !request.overwrite)
        throw fail(`${share.path}/${segments.join('/')} exists (set overwrite to replace it)`);
      const result = await place(request, target, segments);
      return {
        urlPath: encodePath([...config.mount, ...share.segments, ...segments], result.folder),
        path: target.realPath,
        files: result.files,
        bytes: result.bytes,
      };
    } finally {
      await target.close();
    }
  } finally {
    await fs.close();
  }
}

async function openTarget(fs: ShareFs, sharePath: string, segments: readonly string[]): Promise<WriteTarget> {
  try {
    return await fs.openParent(segments);
  } catch (error) {
    throw fail(
      `cannot publish to ${sharePath}/${segments.join('/')}: ${isHttpError(error) ? error.message : (error as Error).message}`,
      error,
    );
  }
}

/** Copies the source under a hidden name in the target's folder, then renames it into place. */
async function place(
  request: PublishRequest,
  target: WriteTarget,
  segments: readonly string[],
): Promise<{ files: PublishedFile[]; bytes: number; folder: boolean }> {
  const source = await listSource(request.source);
  const total = source.files.reduce((sum, file) => sum + file.size, 0);
  let copied = 0;
  const onBytes = (bytes: number): void => {
    copied += bytes;
    request.onProgress?.(copied, total);
  };
  const stagingName = tempNameFor();
  const staging = at(target.parent, stagingName);
  const files: PublishedFile[] = [];
  try {
    if (source.kind === 'file') {
      const file = source.files[0] as SourceFile;
      const sha256 = await copyHashed(file.absolute, staging, request.signal, onBytes);
      files.push({ name: segments.at(-1) as string, path: target.realPath, sha256, size: file.size });
    } else {
      await mkdir(staging);
      for (const folder of source.folders) await mkdir(join(staging, ...folder.split('/')));
      for (const file of source.files) {
        const sha256 = await copyHashed(
          file.absolute,
          join(staging, ...file.name.split('/')),
          request.signal,
          onBytes,
        );
        files.push({
          name: file.name,
          path: join(target.realPath, ...file.name.split('/')),
          sha256,
          size: file.size,
        });
      }
      if (request.manifest !== false) {
        const manifest = files.map((file) => `${file.sha256}  ${file.name}\n`).join('');
        const handle = await open(join(staging, 'SHA256SUMS'), 'wx', 0o644);
        await handle.writeFile(manifest);
        await handle.sync();
        await handle.close();
      }
      for (const folder of ['', ...source.folders]) await syncPath(join(staging, ...folder.split('/')));
    }
    request.signal?.throwIfAborted();
    if (target.existing) {
      const old = tempNameFor();
      await rename(at(target.parent, target.name), at(target.parent, old));
      await rename(staging, at(target.parent, target.name));
      await removeAt(target.parent, old);
    } else await rename(staging, at(target.parent, target.name));
    await syncDir(target.parent);
  } catch (error) {
    await removeAt(target.parent, stagingName).catch(() => undefined);
    if (error instanceof WebdavError) throw error;
    if ((error as Error).name === 'AbortError') throw error;
    throw fail(
      `publishing ${request.source} to ${target.realPath} failed: ${(error as Error).message}`,
      error,
    );
  }
  return { files, bytes: total, folder: source.kind === 'folder' };
}

/** fsync of a folder by path (a staging folder of our own). */
async function syncPath(folder: string): Promise<void> {
  const handle = await open(folder, constants.O_RDONLY | constants.O_DIRECTORY).catch(() => undefined);
  await handle?.sync().catch(() => undefined);
  await handle?.close();
}
