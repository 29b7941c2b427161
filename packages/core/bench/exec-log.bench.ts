import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { lastValueFrom, tap } from 'rxjs';
import { ExecCommand, execParamsSchema } from '../src/commands/exec.js';

const execCommand = new ExecCommand();
import type { CommandContext } from '../src/contracts/command.js';
import { LocalProcessRunner } from '../src/runners/local-process-runner.js';

/** A process printing 1,000,000 log lines of a typical length (about 45 MB). */
export const MILLION_LINES_COMMAND = "seq 1 1000000 | sed 's/$/ some log text of a typical length/'";

/**
 * The peer figure of the log benchmark: milliseconds for `sh -c "<cmd> > file"`, the same process writing
 * its output straight to a file. The engine side (the same command through `exec` with events persisted
 * by a store) should take no more than twice this.
 */
export async function timeDirectToFile(cmd: string = MILLION_LINES_COMMAND): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'beamline-log-bench-'));
  try {
    const start = performance.now();
    await new Promise<void>((resolve, reject) => {
      // The file is passed as $1 so that cmd needs no quoting around it.
      const child = spawn('sh', ['-c', `${cmd} > "$1"`, 'sh', join(dir, 'out.log')], { stdio: 'ignore' });
      child.once('error', reject);
      child.once('close', (code) =>
        code === 0 ? resolve() : reject(new Error(`'${cmd}' exited with ${code}`)),
      );
    });
    return performance.now() - start;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The same command's stdout collected through the `exec` command and LocalProcessRunner, with log events
 * counted but not persisted: the cost of the command layer alone.
 */
export async function timeExecCollected(
  cmd: string = MILLION_LINES_COMMAND,
): Promise<{ ms: number; logEvents: number; bytes: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'beamline-log-bench-'));
  const ctx: CommandContext = {
    runId: 'bench',
    stepId: 'log',
    attempt: 1,
    signal: new AbortController().signal,
    workdir: dir,
    stepDir: dir,
    resources: { cpus: 1, memoryMb: 0, gpus: [] },
    runner: new LocalProcessRunner(),
    labels: {},
  };
  let logEvents = 0;
  let bytes = 0;
  try {
    const start = performance.now();
    await lastValueFrom(
      execCommand.execute(ctx, execParamsSchema.parse({ command: cmd })).pipe(
        tap((event) => {
          if (event.type !== 'log') return;
          logEvents++;
          bytes += event.text.length;
        }),
      ),
    );
    return { ms: performance.now() - start, logEvents, bytes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await timeDirectToFile();
  const direct = await timeDirectToFile();
  const collected = await timeExecCollected();
  console.log(`1,000,000 lines written directly to a file: ${direct.toFixed(0)} ms`);
  console.log(
    `same command through exec (events not persisted): ${collected.ms.toFixed(0)} ms, ${collected.logEvents} log events, ${collected.bytes} chars, ratio ${(collected.ms / direct).toFixed(2)}`,
  );
}
