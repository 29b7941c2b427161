import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** A fresh folder under the system temp dir that other users (Apache's www-data) can traverse. */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), `webdav-${prefix}-`));
  chmodSync(d, 0o755);
  return d;
}

/** Whether this process runs as root (then Apache drops to www-data and needs the folders). */
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Lets `user` (default www-data) read and write `folder`: chowns it recursively and checks that every
 * ancestor can be traversed. Only done when running as root (otherwise the server runs as us).
 */
export function handFolderTo(folder: string, user = 'www-data'): void {
  if (!isRoot()) return;
  execFileSync('chown', ['-R', `${user}:${user}`, folder]);
  for (let d = dirname(resolve(folder)); d !== '/'; d = dirname(d)) {
    const mode = statSync(d).mode;
    if ((mode & 0o001) === 0) {
      throw new Error(
        `${user} cannot traverse ${d} (mode ${(mode & 0o777).toString(8)}) to reach ${folder}: ` +
          'put the share folders under a world-traversable folder (tempDir() makes one)',
      );
    }
  }
}
