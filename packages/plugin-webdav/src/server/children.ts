import type { BigIntStats, Dirent, Stats } from 'node:fs';
import { lstatSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { at, self, type Dir, type FdDir } from '../access/share-fs.js';
import type { AuthenticatedPrincipal } from '../auth/principal.js';
import { isHttpError } from '../http/http-error.js';
import { isTempName } from './atomic-file.js';
import { openForRead, type ServerCore, type ShareRuntime } from './scope.js';

/** A visible member of a collection. */
export interface Child {
  readonly name: string;
  /** The member's own stats (for a followed link: its target's). */
  readonly stats: Stats | BigIntStats;
  readonly throughLink: boolean;
}

const BATCH = 256;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeName(raw: Buffer): string | undefined {
  try {
    const name = utf8.decode(raw);
    // Names the guard would refuse in a request cannot be listed either.
    // eslint-disable-next-line no-control-regex
    return /[\u0000-\u001f\u007f\\]/.test(name) ? undefined : name;
  } catch {
    return undefined;
  }
}

/**
 * One member of a collection as a principal sees it, or undefined when hidden. Synchronous: a
 * thread-pool round trip per entry costs three times as much as the `lstat` itself, and a batch of 256
 * calls holds the event loop for about a millisecond.
 */
function childOf(
  core: ServerCore,
  principal: AuthenticatedPrincipal | undefined,
  share: ShareRuntime,
  segments: readonly string[],
  folder: Dir | FdDir,
  entry: Dirent<Buffer>,
): Child | undefined {
  const name = decodeName(entry.name);
  if (name === undefined || isTempName(name)) return undefined;
  if (entry.isFile() || entry.isDirectory()) {
    const stats = lstatSync(at(folder, name), { throwIfNoEntry: false });
    return stats && (stats.isFile() || stats.isDirectory()) ? { name, stats, throughLink: false } : undefined;
  }
  if (!entry.isSymbolicLink() || !share.fs.followsLinks) return undefined;
  try {
    const opened = openForRead(core, principal, share, [...segments, name]);
    if (!opened) return undefined;
    opened.close();
    return { name, stats: opened.stats, throughLink: true };
  } catch (error) {
    if (isHttpError(error)) return undefined;
    throw error;
  }
}

/**
 * The members of a collection a principal may see, in batches (so a listing of 10,000 entries is
 * written while it is read): files and folders, and the symbolic links the share's policy follows for
 * this principal (into a share the principal may read). Hidden: links that may not be followed, upload
 * temporaries, devices and sockets, and names that are not valid UTF-8 (no URL could reach them).
 */
export async function* listChildren(
  core: ServerCore,
  principal: AuthenticatedPrincipal | undefined,
  share: ShareRuntime,
  segments: readonly string[],
  folder: Dir | FdDir,
): AsyncGenerator<Child[]> {
  let entries: Dirent<Buffer>[];
  try {
    entries = await readdir(self(folder), { withFileTypes: true, encoding: 'buffer' });
  } catch {
    return;
  }
  for (let start = 0; start < entries.length; start += BATCH) {
    const batch = entries.slice(start, start + BATCH);
    const visible: Child[] = [];
    for (const entry of batch) {
      const child = childOf(core, principal, share, segments, folder, entry);
      if (child) visible.push(child);
    }
    if (visible.length > 0) yield visible;
    // Let other requests run between batches.
    await new Promise((resolve) => setImmediate(resolve));
  }
}
