import { execFileSync } from 'node:child_process';

/** Whether a program runs (`<bin> <arg>` exits without ENOENT). */
export function hasBinary(bin: string, arg = '-v'): boolean {
  try {
    execFileSync(bin, [arg], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch (e) {
    return (e as { code?: unknown }).code !== 'ENOENT';
  }
}

export const INSTALL_HINT =
  'Run packages/plugin-grid/scripts/setup-test-env.sh as root (Debian: nginx xrootd-server xrootd-client aria2 openssl).';
