import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import type { GridFileInput } from '../../src/model/grid-file.js';

const root = resolve(import.meta.dirname, '../..');
const script = resolve(root, 'test/support/download-child.ts');

/** How a download child ended. */
export interface ChildOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The GridError it reported (exit 3), parsed. */
  error?: { code: string; message: string; details: Record<string, unknown> };
}

export interface DownloadChild {
  proc: ChildProcess;
  pid: number;
  exited: Promise<ChildOutcome>;
}

/**
 * Starts `test/support/download-child.ts` in its own Node process with `--unhandled-rejections=strict`,
 * so an unhandled rejection anywhere ends it with a stack trace instead of passing unnoticed.
 */
export function startDownloadChild(
  files: GridFileInput[],
  dest: string,
  options: Record<string, unknown> = {},
): DownloadChild {
  const proc = spawn(
    process.execPath,
    [
      '--unhandled-rejections=strict',
      '--conditions=source',
      '--import',
      'tsx',
      script,
      JSON.stringify(files),
      dest,
      JSON.stringify(options),
    ],
    {
      cwd: root,
      // tsx applies a tsconfig only to the files it includes; core's decorators need the base options.
      env: { ...process.env, TSX_TSCONFIG_PATH: resolve(root, '../../tsconfig.base.json') },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<ChildOutcome>((ok) =>
    proc.once('close', (code, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      const outcome: ChildOutcome = { code, signal, stdout, stderr };
      if (line !== undefined) outcome.error = JSON.parse(line) as NonNullable<ChildOutcome['error']>;
      ok(outcome);
    }),
  );
  return { proc, pid: proc.pid!, exited };
}

/** Whether a child ended on its own terms: done (0) or a reported GridError (3), and no stack trace. */
export function endedCleanly(o: ChildOutcome): boolean {
  return (
    (o.code === 0 || o.code === 3) && !/^\s+at /m.test(o.stderr) && !/Unhandled|uncaught/i.test(o.stderr)
  );
}

/** Polls `check` every 20 ms until it holds, or fails after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
