import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** What to run when a client or peer is missing. */
export const INSTALL_HINT =
  'Run packages/plugin-webdav/scripts/setup-test-env.sh as root (Debian 12: litmus cadaver rclone davfs2 apache2 apache2-utils nginx libnginx-mod-http-dav-ext chromium wrk).';

/** Whether a program can be started (`<bin> <arg>` does not fail with ENOENT). */
export function hasBinary(bin: string, arg = '--version'): boolean {
  if (bin.startsWith('/')) return existsSync(bin);
  try {
    execFileSync(bin, [arg], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch (e) {
    return (e as { code?: unknown }).code !== 'ENOENT';
  }
}

/** What a finished tool run printed and how it ended. */
export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Seconds from spawn to exit. */
  seconds: number;
  timedOut: boolean;
}

/** Options of {@link runTool}. */
export interface RunToolOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to the tool's stdin, which is then closed. */
  input?: string;
  /** Killed with SIGKILL after this long (default 10 minutes); the result says `timedOut`. */
  timeoutMs?: number;
}

/**
 * Runs a program to completion and collects its output (never throws for a non-zero exit: the caller
 * asserts on the result, so a failing client shows what it printed).
 */
export function runTool(bin: string, args: string[], opts: RunToolOptions = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(bin, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 600_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, seconds: (performance.now() - t0) / 1000, timedOut });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Resident set size of a process in bytes (`VmRSS` from /proc), or undefined when it is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Sum of the resident set sizes of a process and all its descendants (Apache's workers, nginx's). */
export function treeRssBytes(pid: number): number | undefined {
  const own = rssBytes(pid);
  if (own === undefined) return undefined;
  let total = own;
  for (const child of childPids(pid)) total += treeRssBytes(child) ?? 0;
  return total;
}

function childPids(pid: number): number[] {
  try {
    const tasks = readdirSync(`/proc/${pid}/task`);
    return tasks.flatMap((t) =>
      readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/**
 * A line of an Apache/nginx users file (`user:{SHA}base64(sha1(password))`, a scheme both read), made
 * here rather than with `htpasswd` so the peers need no extra binary. Test peers only: SHA-1 unsalted.
 */
export function htpasswdLine(user: string, password: string): string {
  return `${user}:{SHA}${createHash('sha1').update(password, 'utf8').digest('base64')}\n`;
}
