import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { RunEvent, RunEventInit } from '../contracts/events.js';
import type { Store } from '../contracts/store.js';
import { MemoryStore } from './memory-store.js';
import { SqliteStore } from './sqlite-store.js';
import { logText } from './test-fixtures/log-text.js';

const DAY = 24 * 60 * 60 * 1000;
const root = mkdtempSync(join(tmpdir(), 'beamline-gc-'));
let counter = 0;
const freshPath = (): string => {
  const dir = join(root, `t${++counter}`);
  mkdirSync(dir);
  return join(dir, 'beamline.db');
};
afterAll(() => rmSync(root, { recursive: true, force: true }));

const packageRoot = fileURLToPath(new URL('../..', import.meta.url));
const fixture = fileURLToPath(new URL('./test-fixtures/gc-store.ts', import.meta.url));
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** A run of `logs` large log events at `time`, ended (`succeeded`) or still running. */
async function addRun(
  store: Store,
  id: string,
  options: { createdAt: number; time: number; logs: number; ended?: boolean },
): Promise<void> {
  await store.createRun({
    id,
    pipeline: 'p',
    plan: { steps: [{ id: 's' }] },
    params: {},
    cwd: '/',
    createdAt: options.createdAt,
  });
  const inits: RunEventInit[] = [{ type: 'run-started', pipeline: 'p', resumed: false }];
  for (let i = 0; i < options.logs; i++) {
    inits.push({ type: 'log', stepId: 's', attempt: 1, stream: 'stdout', text: logText(id, i + 2) });
  }
  if (options.ended !== false) inits.push({ type: 'run-succeeded', durationMs: 1 });
  const events = inits.map((init, i) => ({ ...init, runId: id, seq: i + 1, time: options.time }));
  for (let i = 0; i < events.length; i += 50) await store.append(id, events.slice(i, i + 50));
}

/** Every log event of the run holds exactly the text it was written with, and the log has no gap. */
async function expectIntact(store: Store, id: string, atLeast = 1): Promise<number> {
  let seq = 0;
  for await (const event of store.readEvents(id)) {
    expect(event.seq).toBe(++seq);
    if (event.type === 'log')
      expect(event.text === logText(id, event.seq), `${id} event ${event.seq}`).toBe(true);
  }
  expect(seq).toBeGreaterThanOrEqual(atLeast);
  return seq;
}

function textFiles(path: string): string[] {
  const dir = join(path, '..');
  return readdirSync(dir)
    .filter((name) => name.startsWith('beamline.db-text'))
    .sort();
}

function textSize(path: string): number {
  return textFiles(path).reduce((sum, name) => sum + statSync(join(path, '..', name)).size, 0);
}

function spawnFixture(path: string, ...args: string[]): ChildProcess & { output: Promise<string> } {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', fixture, path, ...args], {
    cwd: packageRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const output = new Promise<string>((resolve) => child.on('close', () => resolve(text)));
  return Object.assign(child, { output, text: () => text });
}

async function waitFor(child: ChildProcess, word: string): Promise<void> {
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(word)) resolve();
    });
    child.once('exit', () => reject(new Error(`exited before "${word}": ${seen}`)));
  });
}

describe('SqliteStore.collectGarbage', () => {
  it('deletes old finished runs, never running ones, and gives the log text space back', async () => {
    const path = freshPath();
    const now = Date.now();
    let store = SqliteStore.open({ path });
    await addRun(store, 'old-a', { createdAt: 1, time: now - 10 * DAY, logs: 40 });
    await addRun(store, 'old-running', { createdAt: 2, time: now - 10 * DAY, logs: 10, ended: false });
    await addRun(store, 'old-b', { createdAt: 3, time: now - 9 * DAY, logs: 40 });
    await addRun(store, 'recent', { createdAt: 4, time: now, logs: 20 });
    const before = textSize(path);

    const dry = await store.collectGarbage({ keepDays: 7, dryRun: true });
    expect(dry).toMatchObject({ runs: ['old-b', 'old-a'], events: 84, dryRun: true });
    expect(dry.reclaimedBytes).toBeGreaterThan(before / 2);
    expect(await store.listRuns()).toHaveLength(4);
    expect(textSize(path)).toBe(before);

    const report = await store.collectGarbage({ keepDays: 7 });
    expect(report).toMatchObject({ runs: ['old-b', 'old-a'], events: 84, dryRun: false });
    expect((await store.listRuns()).map((run) => run.id)).toEqual(['recent', 'old-running']);
    expect(await store.getRun('old-a')).toBeUndefined();
    expect(await store.runState('old-a')).toBeUndefined();
    const left: RunEvent[] = [];
    for await (const event of store.readEvents('old-a')) left.push(event);
    expect(left).toEqual([]);
    // The compacted file replaced the old one.
    expect(textFiles(path)).toEqual(['beamline.db-text.1']);
    expect(report.reclaimedBytes).toBe(before - textSize(path));
    expect(textSize(path)).toBeLessThan(before / 2);
    await expectIntact(store, 'recent', 22);
    await expectIntact(store, 'old-running', 11);

    // The log continues in the new file, and a reopened store finds it.
    await store.append('recent', [
      {
        runId: 'recent',
        seq: 23,
        time: now,
        type: 'log',
        stepId: 's',
        attempt: 1,
        stream: 'stdout',
        text: logText('recent', 23),
      },
    ]);
    await store.close();
    store = SqliteStore.open({ path });
    await expectIntact(store, 'recent', 23);
    await store.close();
  });

  it('keeps the newest runs by count, and collects nothing without a limit', async () => {
    const path = freshPath();
    const store = SqliteStore.open({ path });
    try {
      for (let i = 1; i <= 5; i++) await addRun(store, `r${i}`, { createdAt: i, time: i, logs: 2 });
      expect((await store.collectGarbage({})).runs).toEqual([]);
      expect((await store.collectGarbage({ keepRuns: 2 })).runs).toEqual(['r3', 'r2', 'r1']);
      expect((await store.listRuns()).map((run) => run.id)).toEqual(['r5', 'r4']);
      await expect(store.collectGarbage({ keepRuns: -1 })).rejects.toThrow(/keepRuns must be a whole number/);
    } finally {
      await store.close();
    }
  });

  it('loses nothing of a run another process appends to while it collects', async () => {
    const path = freshPath();
    const store = SqliteStore.open({ path });
    try {
      const now = Date.now();
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 3; i++)
          await addRun(store, `old-${round}-${i}`, { createdAt: i, time: now - 30 * DAY, logs: 60 });
        if (round === 0) {
          await store.createRun({
            id: 'live',
            pipeline: 'p',
            plan: null,
            params: {},
            cwd: '/',
            createdAt: now,
          });
        }
        const writer = spawnFixture(path, 'append', 'live');
        await waitFor(writer, 'appending');
        const report = await store.collectGarbage({ keepDays: 1 });
        expect(report.runs).toHaveLength(3);
        expect(report.reclaimedBytes).toBeGreaterThan(0);
        // The writer goes on appending after the switch (however slowly a loaded machine runs it).
        const afterCollection = await expectIntact(store, 'live', 0);
        for (let waited = 0; (await expectIntact(store, 'live', 0)) < afterCollection + 2; waited += 50) {
          expect(waited, 'the writer to append after the collection').toBeLessThan(30_000);
          await delay(50);
        }
        writer.kill('SIGKILL');
        await writer.output;
        expect(await expectIntact(store, 'live')).toBeGreaterThanOrEqual(afterCollection + 2);
      }
      expect(textFiles(path)).toEqual(['beamline.db-text.3']);
    } finally {
      await store.close();
    }
  }, 60_000);

  it('survives kill -9 at any moment: what is kept stays whole, and the next collection finishes the work', async () => {
    const path = freshPath();
    const now = Date.now();
    let store = SqliteStore.open({ path });
    await addRun(store, 'kept', { createdAt: now, time: now, logs: 300 });
    await addRun(store, 'running', { createdAt: 1, time: now - 30 * DAY, logs: 50, ended: false });
    await store.close();
    // Exact points: while copying the live text, before the new file gets its name, after that but
    // before the commit, after the commit while deleting the old file; then random moments.
    const crashes = [
      'writeSync:2',
      'writeSync:4',
      'renameSync:1',
      'fsyncSync:2',
      'rmSync:1',
      'random',
      'random',
    ];
    const outcomes: string[] = [];
    for (const [round, crash] of crashes.entries()) {
      store = SqliteStore.open({ path });
      for (let i = 0; i < 4; i++) {
        await addRun(store, `old-${round}-${i}`, { createdAt: 10 + i, time: now - 30 * DAY, logs: 150 });
      }
      await store.close();

      const gc = spawnFixture(path, 'gc', '1', ...(crash === 'random' ? [] : [crash]));
      await waitFor(gc, 'collecting');
      if (crash === 'random') {
        await delay(Math.random() * 100);
        gc.kill('SIGKILL');
      }
      const output = await gc.output;
      outcomes.push(`${crash}: ${output.includes('"runs"') ? 'finished' : 'killed'}`);

      store = SqliteStore.open({ path });
      try {
        await expectIntact(store, 'kept', 301);
        await expectIntact(store, 'running', 51);
        // A run is there whole, or not at all.
        for (const run of await store.listRuns()) {
          if (run.id.startsWith('old-')) await expectIntact(store, run.id, 152);
        }
      } finally {
        await store.close();
      }
    }
    // Every exact point was reached (a crash point the collection never passes would test nothing).
    expect(outcomes.slice(0, 5), outcomes.join('; ')).toEqual(crashes.slice(0, 5).map((c) => `${c}: killed`));
    // A collection that runs to the end leaves one file with only the kept text, and no debris.
    store = SqliteStore.open({ path });
    try {
      await store.collectGarbage({ keepDays: 1 });
      expect((await store.listRuns()).map((run) => run.id).sort()).toEqual(['kept', 'running']);
      await expectIntact(store, 'kept', 301);
      await expectIntact(store, 'running', 51);
      expect(textFiles(path)).toHaveLength(1);
      expect(existsSync(`${path}-text`) || textFiles(path)[0]!.startsWith('beamline.db-text.')).toBe(true);
      // Only the kept text is left (plus at most what a killed writer appended and never committed).
      let live = 0;
      for (const id of ['kept', 'running']) {
        for await (const event of store.readEvents(id))
          if (event.type === 'log') live += Buffer.byteLength(event.text);
      }
      expect(textSize(path)).toBe(live);
    } finally {
      await store.close();
    }
  }, 120_000);
});

describe('MemoryStore.collectGarbage', () => {
  it('applies the same retention rule', async () => {
    const store = new MemoryStore();
    const now = Date.now();
    await addRun(store, 'old', { createdAt: 1, time: now - 10 * DAY, logs: 1 });
    await addRun(store, 'running', { createdAt: 2, time: now - 10 * DAY, logs: 1, ended: false });
    await addRun(store, 'new', { createdAt: 3, time: now, logs: 1 });
    expect(await store.collectGarbage({ keepDays: 1, dryRun: true })).toEqual({
      runs: ['old'],
      events: 3,
      reclaimedBytes: 0,
      dryRun: true,
    });
    expect((await store.collectGarbage({ keepDays: 1 })).runs).toEqual(['old']);
    expect((await store.listRuns()).map((run) => run.id)).toEqual(['new', 'running']);
  });
});
