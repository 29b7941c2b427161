import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTool } from '../../support/peers/tools.js';

/**
 * Why a davfs2 mount cannot be made here, or undefined when it can: it needs the FUSE device, Debian's
 * davfs2 (`mount.davfs`) and root (mounting).
 */
export function davfsUnavailable(): string | undefined {
  try {
    if (!statSync('/dev/fuse').isCharacterDevice()) return '/dev/fuse is not a character device';
  } catch {
    return 'no /dev/fuse (FUSE is not available in this machine or container)';
  }
  if (!existsSync('/usr/sbin/mount.davfs') && !existsSync('/sbin/mount.davfs')) {
    return 'mount.davfs is not installed (Debian: davfs2)';
  }
  if (process.getuid?.() !== 0) return 'mounting needs root';
  return undefined;
}

/** A mounted davfs2 file system. */
export interface DavfsMount {
  mountpoint: string;
  /** Unmounts; davfs2 uploads what is still dirty before `umount.davfs` returns. */
  unmount(): Promise<void>;
}

function quoteSecret(s: string): string {
  return `"${s.replace(/[\\"]/g, '\\$&')}"`;
}

/**
 * Mounts `url` with davfs2 at `<dir>/mnt`, with its own configuration, secrets file and cache folder in
 * `dir` (nothing in /etc is touched): locks on, uploads right after a file is closed (`delay_upload 0`),
 * no cached directory or file metadata reused (so a read after a write goes back to the server).
 */
export async function mountDavfs(
  url: string,
  login: { user: string; password: string },
  dir: string,
): Promise<DavfsMount> {
  const mnt = join(dir, 'mnt');
  const cache = join(dir, 'cache');
  mkdirSync(mnt, { recursive: true });
  mkdirSync(cache, { recursive: true });
  // mount.davfs switches between root and its davfs2 user while it sets up the cache; neither
  // ownership by davfs2 (0755 or 0775) nor by root passes its access checks, a world-writable folder
  // does. It lives inside the test's private scratch folder.
  chmodSync(cache, 0o777);
  const secrets = join(dir, 'secrets');
  writeFileSync(secrets, `${url} ${quoteSecret(login.user)} ${quoteSecret(login.password)}\n`, {
    mode: 0o600,
  });
  const conf = join(dir, 'davfs2.conf');
  writeFileSync(
    conf,
    [
      `secrets ${secrets}`,
      `cache_dir ${cache}`,
      'use_locks 1',
      'delay_upload 0',
      'dir_refresh 1',
      'file_refresh 1',
      'ask_auth 0',
      '',
    ].join('\n'),
  );
  const r = await runTool('mount.davfs', ['-o', `conf=${conf},uid=0,gid=0`, url, mnt], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`mount.davfs ${url} failed (${r.code}): ${r.stdout}${r.stderr}`);
  let mounted = true;
  return {
    mountpoint: mnt,
    unmount: async () => {
      if (!mounted) return;
      mounted = false;
      const u = await runTool('umount.davfs', [mnt], { timeoutMs: 180_000 });
      if (u.code !== 0) {
        await runTool('umount', ['-l', mnt], { timeoutMs: 30_000 });
        throw new Error(`umount.davfs ${mnt} failed (${u.code}): ${u.stdout}${u.stderr}`);
      }
    },
  };
}
