import { dirname, normalize, sep } from 'node:path';
import { GridError } from '../errors/grid-error.js';
import { printable } from '../errors/printable.js';
import { LOCK_NAME } from '../files/dest-lock.js';
import { partNames } from '../files/part-file.js';
import { destinationProblem } from '../model/grid-file.js';
import type { GridFile } from '../model/grid-file.js';

/** What a path inside the destination directory is used for, by which list entry. */
interface Claim {
  readonly entry: number;
  readonly role: 'file' | 'directory' | '.part file' | 'resume state file' | 'cache copy';
}

/**
 * Checks a whole list before anything is transferred or written: every destination stays inside the
 * destination directory (relative, no `..`, no NUL), and no entry's path is another entry's file, its
 * `.part` or state file (entries `c.bin` and `c.bin.part`), or a directory another entry needs, or the
 * job's lock file. Throws a non-retryable `GRID_DEST_INVALID` naming the entries (escaped for printing).
 */
export function checkDestinations(files: readonly GridFile[]): void {
  const claims = new Map<string, Claim[]>();
  const claim = (path: string, c: Claim) => {
    const list = claims.get(path);
    if (list) list.push(c);
    else claims.set(path, [c]);
  };
  files.forEach((f, entry) => {
    const problem = destinationProblem(f.dest);
    if (problem !== undefined)
      throw invalid(`${describe(files, entry)}: destination ${printable(f.dest)} ${problem}`);
    const dest = normalize(f.dest);
    const names = partNames(dest);
    claim(dest, { entry, role: 'file' });
    claim(names.part, { entry, role: '.part file' });
    claim(names.state, { entry, role: 'resume state file' });
    claim(names.stateTmp, { entry, role: 'resume state file' });
    claim(names.cacheTmp, { entry, role: 'cache copy' });
    for (let dir = dirname(dest); dir !== '.' && dir !== sep; dir = dirname(dir))
      claim(dir, { entry, role: 'directory' });
  });
  const lockClaim = claims.get(LOCK_NAME)?.[0];
  if (lockClaim)
    throw invalid(
      `${describe(files, lockClaim.entry)}: destination ${printable(LOCK_NAME)} is reserved for the download's lock file`,
    );
  for (const [path, list] of claims) {
    const file = list.find((c) => c.role === 'file');
    const other = list.find((c) => c.entry !== file?.entry && (c.role !== 'directory' || file !== undefined));
    if (file === undefined || other === undefined) continue;
    const what =
      other.role === 'file'
        ? 'both be written to'
        : `collide at ${printable(path)}, which is also the ${other.role} of`;
    throw invalid(
      other.role === 'file'
        ? `${describe(files, other.entry)} and ${describe(files, file.entry)} would ${what} ${printable(path)}`
        : `${describe(files, file.entry)} would ${what} ${describe(files, other.entry)}`,
    );
  }
}

function describe(files: readonly GridFile[], entry: number): string {
  return `entry ${entry + 1} (${printable(files[entry]!.name)})`;
}

function invalid(message: string): GridError {
  return new GridError('GRID_DEST_INVALID', `invalid file list: ${message}`, { retryable: false });
}
