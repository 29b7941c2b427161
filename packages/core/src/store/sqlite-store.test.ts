import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../contracts/events.js';
import type { Store } from '../contracts/store.js';
import { isCoreError } from '../errors/core-error.js';
import { storeContractSuite } from '../testing/store-contract.js';
import { initialRunState, reduceRunState } from './run-state.js';
import { SqliteStore } from './sqlite-store.js';

const root = mkdtempSync(join(tmpdir(), 'beamline-sqlite-store-'));
let counter = 0;
const freshDir = (): string => join(root, `t${++counter}`);

afterAll(() => rmSync(root, { recursive: true, force: true }));

storeContractSuite('SqliteStore', {
  create: () => Promise.resolve(SqliteStore.open({ cwd: freshDir() })),
  reopen: async (store: Store) => {
    await store.close();
    return SqliteStore.open({ path: (store as SqliteStore).path });
  },
});

const packageRoot = fileURLToPath(new URL('../..', import.meta.url));
const fixture = fileURLToPath(new URL('./test-fixtures/append-loop.ts', import.meta.url));

describe('SqliteStore', () => {
  const stores: SqliteStore[] = [];
  const children: ChildProcess[] = [];
  const open = (options: Parameters<typeof SqliteStore.open>[0]): SqliteStore => {
    const store = SqliteStore.open(options);
    stores.push(store);
    return store;
  };

  afterEach(async () => {
    for (const child of children.splice(0))
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const store of stores.splice(0)) await store.close();
  });

  it('defaults to <cwd>/.beamline/beamline.db, creating the folder', () => {
    const cwd = freshDir();
    const store = open({ cwd });
    const path = join(cwd, '.beamline', 'beamline.db');
    expect(store.path).toBe(path);
    expect(store.description).toBe(`sqlite:${path}`);
    expect(existsSync(path)).toBe(true);
    expect(open({ cwd, path: 'other/x.db' }).path).toBe(join(cwd, 'other', 'x.db'));
  });

  it('uses WAL and records its schema version', () => {
    const cwd = freshDir();
    const store = open({ cwd });
    const db = new Database(store.path, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('user_version', { simple: true })).toBe(5);
    } finally {
      db.close();
    }
  });

  it('keeps a plan one step per row, never as one text, and reads it back whole', async () => {
    const store = open({ cwd: freshDir() });
    const steps = Array.from({ length: 3 }, (_, i) => ({ id: `s${i}`, needs: i > 0 ? [`s${i - 1}`] : [] }));
    const plan = { pipeline: 'p', steps, params: { n: 1 }, source: 'p.yaml' };
    const record = { id: 'r1', pipeline: 'p', plan, params: { n: 1 }, cwd: '/w', createdAt: 1 };
    await store.createRun(record);
    const db = new Database(store.path, { readonly: true });
    try {
      const spec = db.prepare('SELECT plan, steps_in_rows FROM run_specs').get() as Record<string, unknown>;
      expect(spec).toEqual({ plan: JSON.stringify({ ...plan, steps: [] }), steps_in_rows: 1 });
      expect(db.prepare('SELECT spec FROM plan_steps ORDER BY position').pluck().all()).toEqual(
        steps.map((step) => JSON.stringify(step)),
      );
    } finally {
      db.close();
    }
    expect(await store.getRun('r1')).toEqual(record);

    // Collected with its run.
    await store.append('r1', [{ runId: 'r1', seq: 1, time: 2, type: 'run-succeeded', durationMs: 1 }]);
    expect((await store.collectGarbage({ keepRuns: 0 })).runs).toEqual(['r1']);
    const after = new Database(store.path, { readonly: true });
    try {
      expect(after.prepare('SELECT count(*) FROM plan_steps').pluck().get()).toBe(0);
    } finally {
      after.close();
    }
  });

  it('reads a plan stored whole by an earlier version', async () => {
    const store = open({ cwd: freshDir() });
    const plan = { pipeline: 'p', steps: [{ id: 'a' }, { id: 'b' }], params: {} };
    await store.createRun({ id: 'r1', pipeline: 'p', plan, params: {}, cwd: '/w', createdAt: 1 });
    const db = new Database(store.path);
    try {
      db.prepare('UPDATE run_specs SET plan = ?, steps_in_rows = NULL').run(JSON.stringify(plan));
      db.prepare('DELETE FROM plan_steps').run();
    } finally {
      db.close();
    }
    expect((await store.getRun('r1'))?.plan).toEqual(plan);
  });

  it('refuses a database written by a newer schema', async () => {
    const cwd = freshDir();
    const store = open({ cwd });
    await store.close();
    const db = new Database(store.path);
    db.pragma('user_version = 99');
    db.close();
    let error: unknown;
    try {
      open({ cwd });
    } catch (e) {
      error = e;
    }
    expect(isCoreError(error, 'CORE_STORE_FAILED')).toBe(true);
    expect(String(error)).toMatch(/99/);
  });

  it('closes idempotently and fails clearly afterwards', async () => {
    const store = open({ cwd: freshDir() });
    await store.close();
    await store.close();
    await expect(store.getRun('x')).rejects.toSatisfy((e: unknown) => isCoreError(e, 'CORE_STORE_FAILED'));
    await expect(collect(store.readEvents('x'))).rejects.toSatisfy((e: unknown) =>
      isCoreError(e, 'CORE_STORE_FAILED'),
    );
  });

  it('shares a file between two stores: a cancel request is seen while the other appends', async () => {
    const cwd = freshDir();
    const a = open({ cwd });
    const b = open({ cwd });
    await a.createRun({ id: 'r', pipeline: 'p', plan: null, params: {}, cwd, createdAt: 1 });
    let seq = 0;
    const next = (): RunEvent => ({
      runId: 'r',
      seq: ++seq,
      time: seq,
      type: 'log',
      stepId: 's',
      attempt: 1,
      stream: 'stdout',
      text: 'x',
    });
    await a.append('r', [next()]);
    await b.requestCancel('r', 'from b');
    await a.append('r', [next(), next()]);
    expect(await a.cancelRequested('r')).toBe('from b');
    expect((await b.runState('r'))?.lastSeq).toBe(3);
    expect((await b.runState('r'))?.cancelReason).toBe('from b');
  });

  it('keeps large log text in a file next to the database, readable by another store', async () => {
    const cwd = freshDir();
    const a = open({ cwd });
    await a.createRun({ id: 'r', pipeline: 'p', plan: null, params: {}, cwd, createdAt: 1 });
    const big = 'é'.repeat(5000) + '\n' + 'x'.repeat(300_000) + '🚀\n';
    const events: RunEvent[] = [
      { runId: 'r', seq: 1, time: 1, type: 'log', stepId: 's', attempt: 1, stream: 'stdout', text: big },
      { runId: 'r', seq: 2, time: 2, type: 'log', stepId: 's', attempt: 1, stream: 'stderr', text: 'small' },
      {
        runId: 'r',
        seq: 3,
        time: 3,
        type: 'log',
        stepId: 's',
        attempt: 1,
        stream: 'stderr',
        text: big + big,
      },
    ];
    await a.append('r', events);
    const textFile = `${a.path}-text`;
    expect(statSync(textFile).size).toBe(3 * Buffer.byteLength(big));
    const db = new Database(a.path, { readonly: true });
    try {
      const bodies = db
        .prepare("SELECT body FROM events WHERE run_id = 'r' ORDER BY seq")
        .pluck()
        .all() as string[];
      expect(bodies.every((body) => body.length < 200)).toBe(true);
    } finally {
      db.close();
    }
    const b = open({ cwd });
    const read = await collect(b.readEvents('r'));
    expect(read).toEqual(events);
    // Same key order as appended: the placeholder keeps `text` in its place.
    expect(JSON.stringify(read[0])).toBe(JSON.stringify(events[0]));
    expect(await collect(b.readEvents('r', { types: ['log'], stepId: 's', afterSeq: 2 }))).toEqual([
      events[2],
    ]);
  });

  it('appends after bytes a crashed writer left in the log text file', async () => {
    const cwd = freshDir();
    const store = open({ cwd });
    await store.createRun({ id: 'r', pipeline: 'p', plan: null, params: {}, cwd, createdAt: 1 });
    const text = (c: string): string => c.repeat(10_000);
    const log = (seq: number, t: string): RunEvent => ({
      runId: 'r',
      seq,
      time: seq,
      type: 'log',
      stepId: 's',
      attempt: 1,
      stream: 'stdout',
      text: t,
    });
    await store.append('r', [log(1, text('a'))]);
    // A writer killed between writing its text and committing its rows leaves unreferenced bytes.
    appendFileSync(`${store.path}-text`, 'garbage from an uncommitted transaction');
    await store.append('r', [log(2, text('b')), log(3, 'c')]);
    expect(await collect(store.readEvents('r'))).toEqual([log(1, text('a')), log(2, text('b')), log(3, 'c')]);
  });

  it('keeps all text in the rows of a :memory: database', async () => {
    const store = open({ path: ':memory:' });
    await store.createRun({ id: 'r', pipeline: 'p', plan: null, params: {}, cwd: '/', createdAt: 1 });
    const event: RunEvent = {
      runId: 'r',
      seq: 1,
      time: 1,
      type: 'log',
      stepId: 's',
      attempt: 1,
      stream: 'stdout',
      text: 'y'.repeat(100_000),
    };
    await store.append('r', [event]);
    expect(await collect(store.readEvents('r'))).toEqual([event]);
    expect(existsSync(':memory:-text')).toBe(false);
  });

  it('a second process sees a cancel request while the first is appending', async () => {
    const path = join(freshDir(), 'shared.db');
    const store = open({ path });
    const child = spawnFixture(path, 'run-cancel', 'watch-cancel');
    await waitForOutput(child, 'appending');
    // The other process is appending right now: the log grows under us.
    const first = (await store.runState('run-cancel'))?.lastSeq ?? 0;
    let now = first;
    for (let tries = 0; now <= first && tries < 100; tries++) {
      await delay(50);
      now = (await store.runState('run-cancel'))?.lastSeq ?? 0;
    }
    expect(now).toBeGreaterThan(first);
    await store.requestCancel('run-cancel', 'stop from another process');
    const output = await waitForOutput(child, 'cancelled after');
    const [code] = (await exited(child)) as [number | null];
    expect(code, output).toBe(0);
    const state = await store.runState('run-cancel');
    expect(state?.status).toBe('cancelled');
    expect(state?.cancelReason).toBe('stop from another process');
    const events = await collect(store.readEvents('run-cancel', { afterSeq: (state?.lastSeq ?? 1) - 1 }));
    expect(events).toMatchObject([{ type: 'run-cancelled', reason: 'stop from another process' }]);
  }, 60_000);

  it('survives kill -9 at random moments: no gaps, whole batches, state equal to the folded log', async () => {
    const path = join(freshDir(), 'kill.db');
    // Pairs of rounds continue the same run (a restart after a crash appends to the recovered log);
    // a new run every other round keeps the O(events × steps) fold of reduceRunState affordable.
    const lengths = new Map<string, number>();
    for (let round = 0; round < 6; round++) {
      const runId = `run-kill-${Math.floor(round / 2)}`;
      const child = spawnFixture(path, runId);
      await waitForOutput(child, 'appending');
      await delay(10 + Math.random() * 150);
      child.kill('SIGKILL');
      const [, signal] = (await exited(child)) as [number | null, NodeJS.Signals | null];
      expect(signal).toBe('SIGKILL');

      const store = SqliteStore.open({ path });
      try {
        for (const [id, length] of lengths) {
          if (id !== runId) expect((await store.runState(id))?.lastSeq, `earlier run ${id}`).toBe(length);
        }
        const record = await store.getRun(runId);
        expect(record).toBeDefined();
        const events = await collect(store.readEvents(runId));
        expect(events.length).toBeGreaterThan(lengths.get(runId) ?? 0);
        lengths.set(runId, events.length);
        events.forEach((event, i) => expect(event.seq).toBe(i + 1));
        expectWholeBatches(events);
        const state = await store.runState(runId);
        expect(state?.lastSeq).toBe(events.length);
        expect(state).toEqual(events.reduce(reduceRunState, initialRunState(record!)));
      } finally {
        await store.close();
      }
    }
  }, 120_000);

  function spawnFixture(path: string, runId: string, mode?: string): ChildProcess {
    const args = ['--conditions=source', '--import', 'tsx', fixture, path, runId];
    if (mode !== undefined) args.push(mode);
    const child = spawn(process.execPath, args, { cwd: packageRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    return child;
  }
});

/** Every batch of the fixture is one step: queued, started, n logs, succeeded with outputs.logs = n. */
function expectWholeBatches(events: RunEvent[]): void {
  let i = 0;
  while (i < events.length) {
    const queued = events[i]!;
    expect(queued.type).toBe('queued');
    const stepId = 'stepId' in queued ? queued.stepId : '';
    const batch: RunEvent[] = [];
    for (; i < events.length; i++) {
      const event = events[i]!;
      expect('stepId' in event && event.stepId, `event ${event.seq}`).toBe(stepId);
      batch.push(event);
      if (event.type === 'succeeded') break;
    }
    i++;
    const last = batch[batch.length - 1]!;
    expect(last.type, `batch of ${stepId} is partial`).toBe('succeeded');
    expect(batch[1]?.type).toBe('started');
    const logs = batch.filter((e) => e.type === 'log').length;
    // The large texts live in the log text file: they must be back whole, never cut or shifted.
    for (const event of batch) {
      if (event.type !== 'log') continue;
      const whole = event.text === 'L'.repeat(64 * 1024) || /^line \d$/.test(event.text);
      expect(whole, `text of event ${event.seq} (${event.text.length} chars)`).toBe(true);
    }
    expect(batch.length).toBe(logs + 3);
    expect(last.type === 'succeeded' && last.outputs.logs).toBe(logs);
  }
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

function exited(child: ChildProcess): Promise<unknown[]> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve([child.exitCode, child.signalCode]);
  return once(child, 'exit');
}

/** Resolves with the output so far once stdout contains `text`; rejects if the child exits first. */
function waitForOutput(child: ChildProcess, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes(text)) {
        cleanup();
        resolve(output);
      }
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`fixture exited (${code}) before printing "${text}": ${output}`));
    };
    const cleanup = (): void => {
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', onExit);
  });
}
