import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveShareConfig } from '../../src/config/resolve-share-config.js';
import type { ShareConfigInput } from '../../src/config/share-config.js';
import { ShareServer } from '../../src/server/share-server.js';

/** A share server started for a test. */
export interface StartedShare {
  /** `http://127.0.0.1:<port>` (no trailing slash); share paths are appended (`url + '/data/'`). */
  readonly url: string;
  /** The server's process: a child of the test (default) or the test process itself (`inProcess`). */
  readonly pid: number;
  /** The server object, when it runs in the test's process. */
  readonly server: ShareServer | undefined;
  /** Pids of the cluster's workers (the last `WORKERS` line of the child); empty without a cluster. */
  workers(): number[];
  /** Stops the server (SIGTERM, then SIGKILL after 10 s for a child) and removes its temporary state. */
  stop(): Promise<void>;
}

/** Options of {@link startShare}. */
export interface StartShareOptions {
  /**
   * Run the server in the test's own process (to use `server.events`) instead of a child process. A
   * child is the default: a crash of the server then cannot take the test runner down, and its pid and
   * memory are its own.
   */
  readonly inProcess?: boolean;
  /** Extra environment for the child process. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Worker processes: more than 1 runs the child as a cluster (`ShareCluster`, responses carry
   * `X-Beamline-Worker`). Default: `WEBDAV_WORKERS` from the environment, else 1 (so any suite can be
   * run against the cluster mode with `WEBDAV_WORKERS=2`). Ignored with `inProcess`.
   */
  readonly workers?: number;
}

const CHILD = fileURLToPath(new URL('./share-child.ts', import.meta.url));
const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url));
const TSCONFIG = fileURLToPath(new URL('../../../../tsconfig.base.json', import.meta.url));

/**
 * Starts the plugin's share server on a free loopback port with a shares configuration (the same
 * object `createWebdavPlugin({ shares })` takes: users with scrypt hashes, rules per share). Without a
 * `stateDir` the state (locks, dead properties) lives in a temporary folder removed by `stop`.
 */
export async function startShare(
  config: ShareConfigInput,
  options: StartShareOptions = {},
): Promise<StartedShare> {
  const scratch = mkdtempSync(join(tmpdir(), 'beamline-share-'));
  const full: ShareConfigInput = { ...config, stateDir: config.stateDir ?? join(scratch, 'state') };
  const cleanup = (): void => rmSync(scratch, { recursive: true, force: true });
  if (options.inProcess) {
    const server = await ShareServer.open(resolveShareConfig(full));
    const { url } = await server.listen({ host: '127.0.0.1', port: config.listen?.port ?? 0 });
    return {
      url,
      pid: process.pid,
      server,
      workers: () => [],
      async stop() {
        await server.close(5_000);
        cleanup();
      },
    };
  }
  resolveShareConfig(full); // a configuration error is thrown here, with its message, not in the child
  const file = join(scratch, 'shares.json');
  writeFileSync(file, JSON.stringify(full));
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', CHILD, file], {
    cwd: PACKAGE_DIR,
    env: {
      ...process.env,
      TSX_TSCONFIG_PATH: TSCONFIG,
      SHARE_WORKERS: String(options.workers ?? (Number(process.env.WEBDAV_WORKERS ?? '') || 1)),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000);
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the share server did not start within 60 s:\n${stderr}`)),
      60_000,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /LISTENING (\S+)/.exec(stdout);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the share server exited (${code ?? signal}) before listening:\n${stderr}`));
    });
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout = (stdout + chunk.toString()).slice(-8000);
  });
  return {
    url,
    pid: child.pid as number,
    server: undefined,
    workers() {
      const lines = stdout.match(/^WORKERS .*$/gm) ?? [];
      const last = lines.at(-1)?.slice('WORKERS '.length).trim() ?? '';
      return last === '' ? [] : last.split(' ').map(Number);
    },
    async stop() {
      await stopChild(child);
      cleanup();
    },
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
