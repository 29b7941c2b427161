import { mkdtempSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../contracts/events.js';
import { SqliteStore } from '../sqlite-store.js';
import { BUSY_STORE_APPENDS } from './wal-checkpointer.js';

describe('background WAL checkpoints', () => {
  it('start once a store is busy, copy the WAL into the database file, and stop with the store', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-ckpt-'));
    const store = SqliteStore.open({ cwd });
    await store.createRun({ id: 'r', pipeline: 'p', plan: { steps: [] }, params: {}, cwd, createdAt: 1 });
    const dbFile = path.join(cwd, '.beamline', 'beamline.db');
    for (let seq = 1; seq <= BUSY_STORE_APPENDS + 100; seq++) {
      const event: RunEvent = { runId: 'r', seq, time: seq, type: 'queued', stepId: `s${seq}` };
      await store.append('r', [event]);
    }
    // Nothing writes from here on, so only the background thread can still move pages into the file.
    const before = statSync(dbFile).size;
    await expect.poll(() => statSync(dbFile).size, { timeout: 5000, interval: 100 }).toBeGreaterThan(before);
    await store.close();
    const reopened = SqliteStore.open({ cwd });
    expect((await reopened.runState('r'))?.lastSeq).toBe(BUSY_STORE_APPENDS + 100);
    await reopened.close();
  });
});
