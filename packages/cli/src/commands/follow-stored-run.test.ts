import { hostname } from 'node:os';
import { MemoryStore, type RunEvent } from '@beamline/core';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../cli-io.js';
import { createFakeIO } from '../testing/fake-io.js';
import { sampleRun } from '../testing/synthetic-events.js';
import { followStoredRun } from './follow-stored-run.js';

/** A store holding the first `upTo` events of the sample run (which ends failed). */
async function storeWith(upTo: number): Promise<{ store: MemoryStore; events: RunEvent[] }> {
  const store = new MemoryStore();
  const events = sampleRun('run-1');
  await store.createRun({
    id: 'run-1',
    pipeline: 'demo',
    plan: { steps: [{ id: 'prepare' }, { id: 'train' }, { id: 'evaluate' }, { id: 'report' }] },
    params: {},
    cwd: '/work',
    createdAt: events[0]!.time,
  });
  await store.append('run-1', events.slice(0, upTo));
  return { store, events };
}

const until = async (check: () => boolean): Promise<void> => {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe('followStoredRun (show --follow)', () => {
  it('shows what was recorded, then what is recorded while it follows, each event once, until the run ends', async () => {
    const { store, events } = await storeWith(3);
    const io = createFakeIO();
    const following = followStoredRun(store, 'run-1', io, { json: true });
    await until(() => io.stdout.text.split('\n').length > 3);
    // The rest comes in two batches while it follows.
    await store.append('run-1', events.slice(3, 6));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await store.append('run-1', events.slice(6));
    expect(await following).toBe(ExitCode.failed);
    const seqs = io.stdout.text
      .trimEnd()
      .split('\n')
      .map((line) => (JSON.parse(line) as RunEvent).seq);
    expect(seqs).toEqual(events.map((event) => event.seq));
  });

  it('plain: the events, then the summary of the ended run', async () => {
    const { store } = await storeWith(Number.MAX_SAFE_INTEGER);
    const io = createFakeIO({ cwd: '/work' });
    expect(await followStoredRun(store, 'run-1', io, { json: false })).toBe(ExitCode.failed);
    expect(io.stdout.text).toContain('epoch 2');
    expect(io.stdout.text).toMatch(/Run run-1 failed in /);
  });

  it('a run whose engine is gone (killed) is said to be interrupted, not followed for ever', async () => {
    const { store } = await storeWith(5);
    // Its owner: a process of this host that does not exist any more.
    await store.claimRun('run-1', { pid: 2 ** 22 + 17, host: hostname() });
    const io = createFakeIO();
    expect(await followStoredRun(store, 'run-1', io, { json: true })).toBe(ExitCode.failed);
    expect(io.stdout.text.trimEnd().split('\n')).toHaveLength(5);
    expect(io.stderr.text).toContain(
      "Run run-1 is interrupted: its engine is gone (killed or crashed); continue it with 'beamline resume run-1'",
    );
  });

  it('Ctrl-C stops following, not the run', async () => {
    const { store } = await storeWith(5);
    const io = createFakeIO();
    const following = followStoredRun(store, 'run-1', io, { json: true });
    await until(() => io.stdout.text.split('\n').length > 5);
    io.controller.abort();
    expect(await following).toBe(ExitCode.failed);
    expect(io.stderr.text).toContain('Stopped following run run-1; it goes on.');
    expect((await store.runState('run-1'))?.status).toBe('running');
    expect(await store.cancelRequested('run-1')).toBeFalsy();
  });
});
