import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '@beamline/core';
import { requireService } from '@beamline/core/testing';

// `beamline run` on a store that runs out of disk space, and `runs`/`show` once space is freed.

const BIN = fileURLToPath(new URL('./bin.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const TSCONFIG = fileURLToPath(new URL('../../../tsconfig.base.json', import.meta.url));

const available = requireService(
  'a small tmpfs (mount -t tmpfs, as root)',
  process.getuid?.() === 0,
  'Run the tests as root to check what a full disk does to `beamline run`.',
);

const PIPELINE = `name: disk-full
steps:
  chatty:
    uses: exec
    needs: []
    with:
      command: "while true; do head -c 20000 /dev/zero | tr '\\\\0' x; echo; sleep 0.02; done"
  stubborn:
    uses: exec
    needs: []
    with:
      command: "trap '' TERM; while true; do sleep 1; done"
`;

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

function beamline(
  cwd: string,
  args: string[],
): { child: ReturnType<typeof spawn>; finished: Promise<Finished> } {
  const child = spawn(process.execPath, ['--conditions=source', '--import', TSX, BIN, ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: '1', TSX_TSCONFIG_PATH: TSCONFIG },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const finished = new Promise<Finished>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  return { child, finished };
}

function groupAlive(pgid: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue;
    }
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}

function fillDisk(dir: string): string {
  const filler = path.join(dir, 'filler');
  const fd = openSync(filler, 'w');
  try {
    for (const size of [1 << 20, 1 << 12, 1]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch {
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return filler;
}

describe.skipIf(!available)('beamline run when the store runs out of disk space', () => {
  let mount: string;

  beforeAll(() => {
    mount = mkdtempSync(path.join(os.tmpdir(), 'beamline-cli-full-'));
    const result = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mount]);
    if (result.status !== 0) throw new Error(`mount failed: ${result.stderr.toString()}`);
  });

  afterAll(() => {
    spawnSync('umount', ['-l', mount]);
    rmSync(mount, { recursive: true, force: true });
  });

  it('stops every step, exits 1 with one message, honours the first Ctrl-C, and leaves a readable store', async () => {
    writeFileSync(path.join(mount, 'pipeline.yaml'), PIPELINE);
    const run = beamline(mount, ['run', 'pipeline.yaml']);
    const groups: number[] = [];
    let runId = '';
    try {
      // Wait until both steps run, with their process groups recorded.
      for (let i = 0; groups.length < 2; i++) {
        if (i > 1500) throw new Error('the steps never started');
        await new Promise((r) => setTimeout(r, 20));
        if (!readdirSync(mount).includes('.beamline')) continue;
        const store = SqliteStore.open({ cwd: mount });
        try {
          const [summary] = await store.listRuns({ limit: 1 });
          const state = summary && (await store.runState(summary.id));
          const pgids = Object.values(state?.steps ?? {}).flatMap((s) =>
            s.process?.pgid ? [s.process.pgid] : [],
          );
          if (pgids.length === 2) {
            runId = summary!.id;
            groups.push(...pgids);
          }
        } finally {
          await store.close();
        }
      }
      const filler = fillDisk(mount);
      const started = Date.now();
      run.child.kill('SIGINT'); // the first Ctrl-C, while the run is stopping
      const result = await run.finished;
      const elapsed = Date.now() - started;

      expect(result.code).toBe(1);
      expect(elapsed).toBeLessThan(30_000);
      for (const pgid of groups) expect(groupAlive(pgid)).toBe(false);
      expect(result.stderr.match(/CORE_STORE_FAILED/g)).toHaveLength(1);
      expect(result.stderr).toMatch(/stopped because its store failed: .*(short write|full|ENOSPC)/);
      expect(result.stderr).not.toMatch(/^\s+at /m);

      rmSync(filler);
      const runs = await beamline(mount, ['runs']).finished;
      expect(runs.code).toBe(0);
      expect(runs.stdout).toMatch(new RegExp(`${runId}\\s+disk-full\\s+interrupted`));
      const show = await beamline(mount, ['show', runId]).finished;
      expect(show.code).toBe(0);
      expect(show.stdout).toContain('interrupted');
      expect(show.stdout).toContain(`beamline resume ${runId}`);
    } finally {
      run.child.kill('SIGKILL');
      for (const pgid of groups) {
        try {
          process.kill(-pgid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  }, 120_000);
});
