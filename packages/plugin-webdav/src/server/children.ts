import type { BigIntStats, Dir as DirStream, Dirent, Stats } from 'node:fs';
import { lstatSync, opendirSync } from 'node:fs';
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
const NOT_PRINTABLE_ASCII = /[^\u0020-\u007e]/;
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\u0000-\u001f\u007f\\]/;

/**
 * A directory entry's name read as `latin1` (one character per byte of the name, so nothing is lost
 * and no `Buffer` is made per entry) decoded as strict UTF-8: undefined when it is not valid UTF-8 or
 * holds what the guard would refuse in a request (no URL could reach it). ASCII names, the common
 * case, are already decoded.
 */
function decodeName(raw: string): string | undefined {
  let name = raw;
  if (NOT_PRINTABLE_ASCII.test(raw)) {
    try {
      name = utf8.decode(Buffer.from(raw, 'latin1'));
    } catch {
      return undefined;
    }
  }
  return FORBIDDEN.test(name) ? undefined : name;
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
  entry: Dirent,
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
  // Read BATCH entries at a time (one `getdents` each), never the whole folder: a listing of 10,000
  // entries holds 256 of them at a time, not 10,000 entries and their names until it ends.
  let dir: DirStream;
  try {
    dir = opendirSync(self(folder), { encoding: 'latin1', bufferSize: BATCH });
  } catch {
    return;
  }
  try {
    for (;;) {
      const visible: Child[] = [];
      let read = 0;
      let ended = false;
      while (read < BATCH) {
        let entry: Dirent | null;
        try {
          entry = dir.readSync();
        } catch {
          // The folder went away while it was read: the listing ends with what was read.
          entry = null;
        }
        if (entry === null) {
          ended = true;
          break;
        }
        read += 1;
        const child = childOf(core, principal, share, segments, folder, entry);
        if (child) visible.push(child);
      }
      if (visible.length > 0) yield visible;
      if (ended) return;
      // Let other requests run between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    dir.closeSync();
  }
}
