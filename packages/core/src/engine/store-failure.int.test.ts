import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineDefinition } from '../contracts/pipeline.js';
import type { RunEvent } from '../contracts/events.js';
import { isCoreError } from '../errors/core-error.js';
import { createRuntime } from '../runtime/create-runtime.js';
import { findLiveGroupMember } from '../process/process-identity.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { requireService } from '../testing/require-service.js';

// A store on a small tmpfs that is then filled: real ENOSPC from SQLite and from the log text file.
const root = process.getuid?.() === 0;
const available = requireService(
  'a small tmpfs (mount -t tmpfs, as root)',
  root,
  'Run the tests as root to check what a full disk does to a run.',
);

/** Whether a process of group `pgid` is still running (exited members that nobody reaps do not count). */
function groupAlive(pgid: number): boolean {
  return typeof findLiveGroupMember(pgid) === 'number';
}

/** Writes a file until the disk is full; returns its path (delete it to free the space). */
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

const PIPELINE: PipelineDefinition = {
  name: 'disk-full',
  steps: {
    // Log lines of 20 kB: their text goes to the log text file, so every batch needs new disk space.
    chatty: {
      uses: 'exec',
      needs: [],
      with: { command: "while true; do head -c 20000 /dev/zero | tr '\\0' x; echo; sleep 0.02; done" },
    },
    sleeper: { uses: 'exec', needs: [], with: { command: 'sleep 120' } },
    // Ignores SIGTERM: only SIGKILL after the grace period ends it.
    stubborn: { uses: 'exec', needs: [], with: { command: "trap '' TERM; while true; do sleep 1; done" } },
    after: { uses: 'exec', needs: ['sleeper'], with: { command: 'echo never' } },
  },
};

describe.skipIf(!available)('a store that fails to write (disk full)', () => {
  let mount: string;

  beforeAll(() => {
    mount = mkdtempSync(path.join(os.tmpdir(), 'beamline-full-'));
    const result = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mount]);
    if (result.status !== 0) throw new Error(`mount failed: ${result.stderr.toString()}`);
  });

  afterAll(() => {
    spawnSync('umount', ['-l', mount]);
    rmSync(mount, { recursive: true, force: true });
  });

  it('stops every attempt, ends the run with one clear error, never contradicts itself, and stays readable', async () => {
    // Room for every step at once whatever the machine's core count.
    const runtime = await createRuntime({ cwd: mount, resources: { cpus: 8 } });
    const events: RunEvent[] = [];
    const groups = new Map<string, number>();
    let filler: string | undefined;
    try {
      const handle = await runtime.run(PIPELINE);
      // events$ replays what was emitted before this subscription: the steps may have started already.
      const allRunning = new Promise<void>((resolve) =>
        handle.events$.subscribe((event) => {
          events.push(event);
          if (event.type !== 'process') return;
          groups.set(event.stepId, event.process.pgid!);
          if (groups.size === 3) resolve();
        }),
      );
      const done = handle.done.then(
        () => undefined,
        (error: unknown) => error,
      );
      await allRunning;
      filler = fillDisk(mount);
      const started = Date.now();

      const failure = await done;
      const elapsed = Date.now() - started;
      expect(isCoreError(failure, 'CORE_STORE_FAILED')).toBe(true);
      const message = (failure as Error).message;
      expect(message).toMatch(/^Run \S+ stopped because its store failed: .*(full|No space left|ENOSPC)/s);
      expect(message).toContain('resume the run');
      // SIGTERM, the runner's 10 s grace for the step that ignores it, SIGKILL: not until they end by themselves.
      expect(elapsed).toBeLessThan(30_000);
      for (const [stepId, pgid] of groups) expect(groupAlive(pgid), `${stepId} is still running`).toBe(false);

      // No step both succeeded and failed, none ended twice, and no run-level end was claimed.
      for (const stepId of Object.keys(PIPELINE.steps)) {
        const ends = events.filter(
          (e) =>
            'stepId' in e &&
            e.stepId === stepId &&
            ['succeeded', 'failed', 'cached', 'cancelled'].includes(e.type),
        );
        expect(ends.length, `${stepId}: ${ends.map((e) => e.type).join(', ')}`).toBeLessThanOrEqual(1);
      }
      expect(events.filter((e) => e.type.startsWith('run-') && e.type !== 'run-started')).toEqual([]);
      // The first cancel after the failure is harmless (the CLI's Ctrl-C).
      handle.cancel('interrupted');
    } finally {
      if (filler) rmSync(filler, { force: true });
      await runtime.close();
    }

    // Space freed: the store opens and reads back what it recorded.
    const store = SqliteStore.open({ cwd: mount });
    try {
      const [run] = await store.listRuns();
      expect(run?.pipeline).toBe('disk-full');
      const state = await store.runState(run!.id);
      expect(state?.status).toBe('running');
      let read = 0;
      for await (const event of store.readEvents(run!.id)) read += event.seq > 0 ? 1 : 0;
      expect(read).toBe(state?.lastSeq);
    } finally {
      await store.close();
    }
  }, 90_000);
});
