import type { BigIntStats } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { HttpError } from '../http/http-error.js';

/** A share as the resolver needs it: its real folder and where its links may lead. */
export interface ShareRoots {
  readonly name: string;
  /** `realpath` of the share's folder, taken when the server started. */
  readonly rootReal: string;
  /** Where followed links may land: the real parent of the share's folder, or undefined when links are not followed. */
  readonly linkArea: string | undefined;
}

/** What a readable path resolved to. */
export interface ResolvedRead {
  /** Real path of the object (no link in it). */
  readonly realPath: string;
  /** `lstat` of the object: a file or a directory, never a link. */
  readonly stats: BigIntStats;
  /** Whether a symbolic link was followed on the way. */
  readonly throughLink: boolean;
}

/** What a writable path resolved to. */
export interface ResolvedWrite {
  /** Real path of the parent collection. */
  readonly parentReal: string;
  /** Real path of the object (it may not exist). */
  readonly realPath: string;
  /** `lstat` of the object when it exists (a file or a directory, never a link). */
  readonly existing: BigIntStats | undefined;
}

const MAX_LINK_HOPS = 8;

function inside(path: string, folder: string): boolean {
  return path === folder || path.startsWith(folder.endsWith('/') ? folder : `${folder}/`);
}

async function lstatOrUndefined(path: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(path, { bigint: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') return undefined;
    throw error;
  }
}

/**
 * Resolves a path inside a share for reading, one component at a time with `lstat` (nothing is
 * followed by the kernel): a symbolic link is followed only when the share allows it, only when its
 * text is relative, at most 8 hops, and only while every position stays inside the share's link area
 * (the real parent of its folder: `share/x -> ../x` works, `../../x`, `/etc` and chains that leave do
 * not). Returns undefined when nothing is there; throws 403 for a link that may not be followed.
 * The caller opens `realPath` with `O_NOFOLLOW` and compares the opened file with `stats`, so a link
 * swapped in after this check is never served.
 */
export async function resolveRead(
  share: ShareRoots,
  segments: readonly string[],
): Promise<ResolvedRead | undefined> {
  const queue = [...segments];
  let current = share.rootReal;
  let stats = await lstatOrUndefined(current);
  let hops = 0;
  let throughLink = false;
  while (queue.length > 0) {
    const name = queue.shift() as string;
    if (name === '' || name === '.') continue;
    if (name === '..') {
      // Only link text brings `..` here; it may not climb out of the link area.
      current = dirname(current);
      if (share.linkArea === undefined || !inside(current, share.linkArea))
        throw new HttpError(403, 'a symbolic link leads outside the share');
      stats = await lstatOrUndefined(current);
      continue;
    }
    if (stats && !stats.isDirectory()) return undefined;
    const next = join(current, name);
    const found = await lstatOrUndefined(next);
    if (!found) return undefined;
    if (found.isSymbolicLink()) {
      if (share.linkArea === undefined)
        throw new HttpError(403, 'symbolic links are not followed in this share');
      hops += 1;
      if (hops > MAX_LINK_HOPS) throw new HttpError(403, 'too many symbolic links');
      const target = await readlink(next);
      if (isAbsolute(target)) throw new HttpError(403, 'absolute symbolic links are not followed');
      throughLink = true;
      queue.unshift(...target.split('/'));
      continue;
    }
    current = next;
    stats = found;
  }
  if (!stats) return undefined;
  if (!stats.isFile() && !stats.isDirectory()) throw new HttpError(403, 'not a regular file or folder');
  return { realPath: current, stats, throughLink };
}

/**
 * Resolves a path inside a share for writing: no symbolic link anywhere on it, the final component
 * included (writes never follow links). Throws 403 for a link, 409 when the parent is missing or not a
 * folder.
 */
export async function resolveWrite(share: ShareRoots, segments: readonly string[]): Promise<ResolvedWrite> {
  let current = share.rootReal;
  if (segments.length === 0) {
    const stats = await lstatOrUndefined(current);
    return { parentReal: dirname(current), realPath: current, existing: stats };
  }
  for (let index = 0; index < segments.length - 1; index += 1) {
    current = join(current, segments[index] as string);
    const stats = await lstatOrUndefined(current);
    if (!stats) throw new HttpError(409, 'a parent folder does not exist');
    if (stats.isSymbolicLink()) throw new HttpError(403, 'writes never go through symbolic links');
    if (!stats.isDirectory()) throw new HttpError(409, 'a parent is not a folder');
  }
  const realPath = join(current, segments.at(-1) as string);
  const existing = await lstatOrUndefined(realPath);
  if (existing?.isSymbolicLink()) throw new HttpError(403, 'writes never go through symbolic links');
  if (existing && !existing.isFile() && !existing.isDirectory())
    throw new HttpError(403, 'not a regular file or folder');
  return { parentReal: current, realPath, existing };
}

/** Whether a real path lies in a folder (or is it). */
export function isInside(path: string, folder: string): boolean {
  return inside(path, folder);
}
