import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRuntime, type Runtime } from '@beamline/core';
import type { StartWorkerOptions } from '../../src/index.js';
import { createPostgresPlugin, PostgresStore } from '../../src/index.js';
import { TEST_URL, testSchema } from './database.js';

const fixture = fileURLToPath(new URL('../fixtures/worker-process.ts', import.meta.url));
const tsconfig = fileURLToPath(new URL('../../tsconfig.scripts.json', import.meta.url));

/** A worker process and what it printed. */
export interface WorkerProcess {
  child: ChildProcess;
  name: string;
  lines: string[];
}

/** A coordinator runtime (PostgresStore + the queue plugin) and worker processes on one schema. */
export class TestCluster {
  readonly schema = testSchema('q');
  /** A folder of this test's own, and the run folder inside it. */
  readonly root = mkdtempSync(path.join(os.tmpdir(), 'beamline-pg-'));
  readonly cwd = path.join(this.root, 'run');

  constructor() {
    mkdirSync(this.cwd);
  }
  readonly workers: WorkerProcess[] = [];
  readonly runtimes: Runtime[] = [];

  /** A coordinator: the store and the placing plugin on this cluster's schema. */
  async coordinator(lease = '10s'): Promise<Runtime> {
    const store = await PostgresStore.open({ url: TEST_URL, schema: this.schema });
    const runtime = await createRuntime({
      store,
      cwd: this.cwd,
      plugins: [createPostgresPlugin({ url: TEST_URL, schema: this.schema, lease, pollMs: 500 })],
      cancelPollMs: 200,
    });
    this.runtimes.push(runtime);
    return runtime;
  }

  /** Starts a worker process and waits until it is ready. */
  async worker(
    options: Omit<StartWorkerOptions, 'url' | 'schema'> & { url?: string } = {},
    env: NodeJS.ProcessEnv = {},
    /** A command the worker runs under (`unshare …`), given the node command line as its last arguments. */
    wrap: readonly string[] = [],
  ): Promise<WorkerProcess> {
    const argv = [
      process.execPath,
      '--conditions=source',
      '--import',
      'tsx',
      fixture,
      JSON.stringify({ url: TEST_URL, schema: this.schema, pollMs: 500, ...options }),
    ];
    const [program, ...args] = [...wrap, ...argv];
    const child = spawn(program!, args, {
      cwd: path.dirname(fixture),
      env: { ...process.env, TSX_TSCONFIG_PATH: tsconfig, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const entry: WorkerProcess = { child, name: '', lines: [] };
    this.workers.push(entry);
    let partial = '';
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        partial += chunk.toString();
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          entry.lines.push(line);
          if (line.startsWith('ready ')) {
            entry.name = line.slice('ready '.length);
            resolve();
          }
        }
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('exit', (code) =>
        reject(new Error(`worker exited (${code}) before it was ready: ${stderr}`)),
      );
    });
    await ready;
    return entry;
  }

  /** Lines of a file in the run folder (steps append to it). */
  read(file: string): string[] {
    try {
      return readFileSync(path.join(this.cwd, file), 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  }

  async close(): Promise<void> {
    for (const { child } of this.workers)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.allSettled(this.runtimes.map((runtime) => runtime.close()));
  }
}

/** Waits until `check` is true (polling), or fails after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
