import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../contracts/events.js';
import type { RuntimeEvent } from '../contracts/runtime.js';
import { isCoreError } from '../errors/core-error.js';
import { createRuntime } from '../runtime/create-runtime.js';
import { SqliteStore, type StoreWarning } from './sqlite-store.js';

const root = mkdtempSync(join(tmpdir(), 'beamline-damage-'));
let counter = 0;
const freshDir = (): string => join(root, `t${++counter}`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const log = (seq: number, text: string): RunEvent => ({
  runId: 'r',
  seq,
  time: seq,
  type: 'log',
  stepId: 's',
  attempt: 1,
  stream: 'stdout',
  text,
});

async function collect(events: AsyncIterable<RunEvent>): Promise<RunEvent[]> {
  const all: RunEvent[] = [];
  for await (const event of events) all.push(event);
  return all;
}

/** A store with three events whose text lies in the log text file (10,000 bytes each). */
async function storeWithLargeLogs(): Promise<{ path: string; texts: string[] }> {
  const cwd = freshDir();
  const store = SqliteStore.open({ cwd });
  const texts = ['a', 'b', 'c'].map((c) => `${c.repeat(9_999)}\n`);
  await store.createRun({ id: 'r', pipeline: 'p', plan: null, params: {}, cwd, createdAt: 1 });
  await store.append(
    'r',
    texts.map((text, i) => log(i + 1, text)),
  );
  await store.close();
  return { path: store.path, texts };
}

describe('a truncated log text file', () => {
  it('reads back what is left, says what is missing in the text, and warns once', async () => {
    const { path, texts } = await storeWithLargeLogs();
    truncateSync(`${path}-text`, 15_000); // all of a, half of b, none of c
    const warnings: StoreWarning[] = [];
    const store = SqliteStore.open({ path, onWarning: (warning) => warnings.push(warning) });
    try {
      const events = (await collect(store.readEvents('r'))) as Extract<RunEvent, { type: 'log' }>[];
      expect(events[0]?.text).toBe(texts[0]);
      expect(events[1]?.text).toBe(
        `${'b'.repeat(5_000)}\n[beamline: 5000 of 10000 bytes of this log text are missing from ${path}-text]\n`,
      );
      expect(events[2]?.text).toBe(
        `\n[beamline: 10000 of 10000 bytes of this log text are missing from ${path}-text]\n`,
      );
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.message).toContain('shorter than the database says');
      expect(warnings[0]?.details).toMatchObject({ seq: 2, missing: 5_000, length: 10_000 });
    } finally {
      await store.close();
    }
  });

  it('reaches a runtime as a store warning of its event sink', async () => {
    const { path } = await storeWithLargeLogs();
    truncateSync(`${path}-text`, 0);
    const runtime = await createRuntime({ cwd: join(path, '..', '..') });
    try {
      const warnings: RuntimeEvent[] = [];
      runtime.events$.subscribe((event) => warnings.push(event));
      for await (const event of runtime.store.readEvents('r')) expect(event.type).toBe('log');
      expect(warnings).toMatchObject([
        { level: 'warning', source: 'store', details: { seq: 1, missing: 10_000 } },
      ]);
    } finally {
      await runtime.close();
    }
  });

  it('reads back a deleted log text file as missing text, not as an error', async () => {
    const { path } = await storeWithLargeLogs();
    rmSync(`${path}-text`);
    const warnings: StoreWarning[] = [];
    const store = SqliteStore.open({ path, onWarning: (warning) => warnings.push(warning) });
    try {
      const events = (await collect(store.readEvents('r'))) as Extract<RunEvent, { type: 'log' }>[];
      expect(events.map((e) => e.text)).toEqual(
        [1, 2, 3].map(
          () => `\n[beamline: 10000 of 10000 bytes of this log text are missing from ${path}-text]\n`,
        ),
      );
      expect(warnings).toHaveLength(1);
    } finally {
      await store.close();
    }
  });
});

describe('a database file that is not a store', () => {
  function openError(path: string): Error {
    try {
      SqliteStore.open({ path })
        .close()
        .catch(() => undefined);
    } catch (error) {
      expect(isCoreError(error, 'CORE_STORE_FAILED')).toBe(true);
      return error as Error;
    }
    throw new Error(`expected ${path} to be refused`);
  }

  it('reports an empty (0-byte) file instead of making it a new store', () => {
    const dir = freshDir();
    mkdirSync(dir);
    const path = join(dir, 'beamline.db');
    writeFileSync(path, '');
    expect(openError(path).message).toMatch(/beamline\.db is empty \(0 bytes\), not a Beamline store/);
  });

  it('reports a truncated database and an empty or foreign SQLite database', async () => {
    const { path } = await storeWithLargeLogs();
    truncateSync(path, 100);
    expect(openError(path).message).toMatch(
      /failed: (database disk image is malformed|file is not a database)|not a Beamline store/,
    );

    const dir = freshDir();
    mkdirSync(dir);
    const empty = join(dir, 'empty.db');
    new Database(empty).close();
    writeFileSync(empty, ''); // what `new Database` leaves: nothing written yet
    expect(openError(empty).message).toMatch(/is empty \(0 bytes\)/);
    const foreign = join(dir, 'foreign.db');
    const db = new Database(foreign);
    db.exec('CREATE TABLE t (x)');
    db.close();
    expect(openError(foreign).message).toMatch(/is a SQLite database without a Beamline schema/);
  });

  it('creates a new store once when several processes open it at the same time', async () => {
    const path = join(freshDir(), 'shared.db');
    const script = `
      const { SqliteStore } = await import(${JSON.stringify(new URL('./sqlite-store.ts', import.meta.url).href)});
      const store = SqliteStore.open({ path: process.argv[1] });
      await store.createRun({ id: 'r' + process.pid, pipeline: 'p', plan: null, params: {}, cwd: '/', createdAt: 1 });
      await store.close();
    `;
    const children = Array.from({ length: 6 }, () =>
      spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, path], {
        cwd: new URL('../..', import.meta.url).pathname,
        stdio: ['ignore', 'ignore', 'pipe'],
      }),
    );
    const results = await Promise.all(
      children.map(async (child) => {
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        const [code] = (await once(child, 'exit')) as [number | null];
        return { code, stderr };
      }),
    );
    for (const result of results) expect(result.code, result.stderr).toBe(0);
    const store = SqliteStore.open({ path });
    try {
      expect(await store.listRuns()).toHaveLength(6);
    } finally {
      await store.close();
    }
  }, 60_000);
});
