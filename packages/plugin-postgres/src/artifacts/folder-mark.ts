import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Where a run's folder keeps the mark that tells a worker whether the folder it sees at the run's path is
 * the coordinator's own (a shared mount) or merely a folder of the same name (an old clone, another
 * user's home with the same layout).
 */
const MARK_FILE = path.join('.beamline', 'folder-mark');

/**
 * The coordinator's mark of a run's folder: made once (random, 128 bits) and read back after, so every
 * coordinator process of that folder gives the same. Undefined when it cannot be written (a read-only
 * folder): workers then decide by the folder's presence alone.
 */
export function folderMark(root: string): string | undefined {
  const file = path.join(root, MARK_FILE);
  const existing = readMark(root);
  if (existing !== undefined) return existing;
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    // `wx`: of two processes making it at once, one writes and both read the winner's.
    writeFileSync(file, `${randomBytes(16).toString('hex')}\n`, { flag: 'wx', mode: 0o644 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return undefined;
  }
  return readMark(root);
}

/** The mark in the folder at `root` on this host; undefined when there is none. */
export function readMark(root: string): string | undefined {
  try {
    const mark = readFileSync(path.join(root, MARK_FILE), 'utf8').trim();
    return /^[0-9a-f]{32}$/.test(mark) ? mark : undefined;
  } catch {
    return undefined;
  }
}
