import { spawn, type ChildProcess } from 'node:child_process';
import { waitForPort } from './ports.js';

/** A server process started by a test, stopped by it. */
export interface Daemon {
  pid: number;
  /** The last lines it printed on stderr (for error messages). */
  output(): string;
  /** Whether it is still running. */
  alive(): boolean;
  /** Sends `signal` (default SIGTERM), waits up to 10 s, then SIGKILL. Safe to call twice. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Spawns a server in the foreground (never as a system service) and waits until it accepts connections
 * on `port`; if it exits first, or does not listen in time, it is killed and the error carries what it
 * printed.
 */
export async function startDaemon(
  name: string,
  bin: string,
  args: string[],
  port: number,
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; readyTimeoutMs?: number } = {},
): Promise<Daemon> {
  const child: ChildProcess = spawn(bin, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  child.once('error', (e) => {
    out += `\n${String(e)}`;
  });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (exited) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exit;
    clearTimeout(timer);
  };
  try {
    await Promise.race([
      waitForPort(port, opts.readyTimeoutMs ?? 20_000),
      exit.then(() => {
        throw new Error(`${name} exited before listening on 127.0.0.1:${port}:\n${out}`);
      }),
    ]);
  } catch (e) {
    await stop('SIGKILL');
    throw e instanceof Error && e.message.startsWith(name)
      ? e
      : new Error(`${name} did not start: ${(e as Error).message}\n${out}`);
  }
  return {
    pid: child.pid!,
    output: () => out,
    alive: () => !exited,
    stop,
  };
}
