import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import type { Artifact } from '../contracts/artifact.js';
import type { CacheKeyParts, ErrorInfo, RunEvent, RunEventInit } from '../contracts/events.js';
import type { CacheRecord, RunRecord, RunState, Store } from '../contracts/store.js';
import { isCoreError, type CoreErrorCode } from '../errors/core-error.js';
import { initialRunState, reduceRunState } from '../store/run-state.js';

/** Options of {@link storeContractSuite}. */
export interface StoreContractOptions {
  /** A new, empty store (each test gets its own). */
  create: () => Promise<Store>;
  /**
   * Closes `store` and opens the same storage again. When given, the suite also checks that
   * everything written survives a reopen.
   */
  reopen?: (store: Store) => Promise<Store>;
}

/**
 * The conformance suite every {@link Store} implementation runs (in its own test file):
 *
 * ```ts
 * storeContractSuite('SqliteStore', { create: async () => SqliteStore.open({ cwd: tmp() }), reopen });
 * ```
 *
 * It checks runs, the event log (order, filters, gapless and atomic appends), the state materialised
 * for every event type (against `reduceRunState`), the cache index, cancellation requests and run
 * ownership, garbage collection for a store that offers it (`collectGarbage` is optional; the tests are
 * skipped for a store without it), and with `reopen`, durability across a reopen.
 */
export function storeContractSuite(name: string, options: StoreContractOptions): void {
  describe(`Store contract: ${name}`, () => {
    const open: Store[] = [];
    const children: ChildProcess[] = [];

    afterEach(async () => {
      for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
      for (const store of open.splice(0)) await store.close();
    });

    async function create(): Promise<Store> {
      const store = await options.create();
      open.push(store);
      return store;
    }

    async function reopen(store: Store): Promise<Store> {
      if (options.reopen === undefined) return store;
      const index = open.indexOf(store);
      if (index >= 0) open.splice(index, 1);
      const next = await options.reopen(store);
      open.push(next);
      return next;
    }

    describe('runs', () => {
      it('creates and gets a run, with and without optional fields', async () => {
        const store = await create();
        const full = runRecord('r-full', { source: '/pipelines/p.yaml' });
        const bare = runRecord('r-bare');
        await store.createRun(full);
        await store.createRun(bare);
        expect(await store.getRun('r-full')).toEqual(full);
        const got = await store.getRun('r-bare');
        expect(got).toEqual(bare);
        expect(got).not.toHaveProperty('source');
        expect(await store.getRun('nope')).toBeUndefined();
        expect(typeof store.description).toBe('string');
        expect(store.description.length).toBeGreaterThan(0);
      });

      it('rejects a second run with the same id', async () => {
        const store = await create();
        await store.createRun(runRecord('r1'));
        await expect(store.createRun(runRecord('r1', { pipeline: 'other' }))).rejects.toThrow();
        expect((await store.getRun('r1'))?.pipeline).toBe('pipe');
      });

      it('starts a run with its plan steps pending', async () => {
        const store = await create();
        const record = runRecord('r1', { steps: ['a', 'b', 'c'] });
        await store.createRun(record);
        const state = await store.runState('r1');
        expect(state).toEqual(initialRunState(record));
        expect(state?.status).toBe('running');
        expect(state?.lastSeq).toBe(0);
        expect(Object.keys(state?.steps ?? {}).sort()).toEqual(['a', 'b', 'c']);
        expect(state?.steps.a).toEqual({ stepId: 'a', status: 'pending', attempt: 0 });
        expect(await store.runState('nope')).toBeUndefined();
      });

      it('accepts plans that are not Plans', async () => {
        const store = await create();
        for (const [i, plan] of [
          null,
          42,
          'x',
          { steps: 'no' },
          { steps: [null, 1, { id: 3 }, { id: 'ok' }] },
        ].entries()) {
          await store.createRun({ ...runRecord(`r${i}`), plan });
        }
        expect(Object.keys((await store.runState('r4'))?.steps ?? {})).toEqual(['ok']);
        expect((await store.runState('r0'))?.steps).toEqual({});
      });

      it('records a step id the plan lists twice once, in the place of its first', async () => {
        const store = await create();
        await store.createRun({
          ...runRecord('r1'),
          plan: { steps: [{ id: 'b' }, { id: 'a' }, { id: 'b' }] },
        });
        const state = await store.runState('r1');
        expect(Object.keys(state?.steps ?? {})).toEqual(['b', 'a']);
        expect(state?.steps.b).toEqual({ stepId: 'b', status: 'pending', attempt: 0 });
      });

      it('lists runs newest first, with step counts, and honours limit', async () => {
        const store = await create();
        await store.createRun(runRecord('old', { createdAt: 1_000, steps: ['a', 'b'] }));
        await store.createRun(runRecord('new', { createdAt: 3_000, steps: ['a', 'b', 'c'] }));
        await store.createRun(runRecord('mid', { createdAt: 2_000 }));
        const log = new EventLog('new', 3_000);
        await store.append('new', [log.next({ type: 'run-started', pipeline: 'pipe', resumed: false })]);
        await store.append('new', [
          log.next({ type: 'queued', stepId: 'a' }),
          log.next({ type: 'queued', stepId: 'b' }),
        ]);
        await store.append('new', [log.next(startedEvent('a'))]);
        await store.append('new', [log.next(succeededEvent('a'))]);

        const runs = await store.listRuns();
        expect(runs.map((r) => r.id)).toEqual(['new', 'mid', 'old']);
        expect(runs[0]).toEqual({
          id: 'new',
          pipeline: 'pipe',
          status: 'running',
          createdAt: 3_000,
          updatedAt: log.time,
          counts: { succeeded: 1, queued: 1, pending: 1 },
        });
        expect(runs[2]?.counts).toEqual({ pending: 2 });
        expect(runs[1]?.counts).toEqual({});
        expect((await store.listRuns({ limit: 2 })).map((r) => r.id)).toEqual(['new', 'mid']);
      });

      it('returns copies: mutating a result does not change the store', async () => {
        const store = await create();
        const record = runRecord('r1', { steps: ['a'] });
        await store.createRun(record);
        (record.params as { mutated?: boolean }).mutated = true;
        const got = await store.getRun('r1');
        expect(got?.params).toEqual({ n: 1 });
        (got as { params: Record<string, unknown> }).params.x = 1;
        const state = await store.runState('r1');
        (state as RunState).steps.a!.status = 'failed';
        const event: RunEvent = { runId: 'r1', seq: 1, time: 5, type: 'queued', stepId: 'a' };
        await store.append('r1', [event]);
        (event as { stepId: string }).stepId = 'mutated';
        expect(await store.getRun('r1')).toEqual(runRecord('r1', { steps: ['a'] }));
        expect((await store.runState('r1'))?.steps.a?.status).toBe('queued');
        const [read] = await collect(store.readEvents('r1'));
        expect(read).toEqual({ runId: 'r1', seq: 1, time: 5, type: 'queued', stepId: 'a' });
      });
    });

    describe('event log', () => {
      it('appends and reads events in seq order across batches', async () => {
        const store = await create();
        await store.createRun(runRecord('r1', { steps: ['a'] }));
        const { log, events } = scenario('r1');
        await store.append('r1', events.slice(0, 1));
        await store.append('r1', events.slice(1, 4));
        await store.append('r1', events.slice(4));
        expect(await collect(store.readEvents('r1'))).toEqual(events);
        expect((await store.runState('r1'))?.lastSeq).toBe(log.seq);
        expect(await collect(store.readEvents('nope'))).toEqual([]);
      });

      it('an empty append changes nothing', async () => {
        const store = await create();
        await store.createRun(runRecord('r1'));
        await store.append('r1', []);
        expect(await store.runState('r1')).toEqual(initialRunState(runRecord('r1')));
      });

      it('keeps large log events and long logs intact (paged reads)', async () => {
        const store = await create();
        await store.createRun(runRecord('r1', { steps: ['a'] }));
        const log = new EventLog('r1');
        const big = 'x'.repeat(64 * 1024 - 7) + 'ü€\n🚀';
        const events: RunEvent[] = [];
        for (let i = 0; i < 4_500; i++) {
          events.push(
            log.next({
              type: 'log',
              stepId: 'a',
              attempt: 1,
              stream: 'stdout',
              text: i % 500 === 0 ? big : `line ${i}`,
            }),
          );
        }
        for (let i = 0; i < events.length; i += 900) await store.append('r1', events.slice(i, i + 900));
        const read = await collect(store.readEvents('r1'));
        expect(read.length).toBe(4_500);
        expect(read.map((e) => e.seq)).toEqual(events.map((e) => e.seq));
        expect(read[500]).toEqual(events[500]);
        expect(read[4_499]).toEqual(events[4_499]);
        expect((await collect(store.readEvents('r1', { afterSeq: 2_100 }))).length).toBe(2_400);
      });

      it('lets the reader use the store between two events', async () => {
        const store = await create();
        await store.createRun(runRecord('r1', { steps: ['a'] }));
        const log = new EventLog('r1');
        const first = Array.from({ length: 2_500 }, () => log.next({ type: 'queued', stepId: 'a' }));
        await store.append('r1', first);
        let seen = 0;
        for await (const event of store.readEvents('r1')) {
          seen += 1;
          if (event.seq % 1_000 === 0) {
            // A reader that holds a database cursor across the yield would make these fail.
            await store.append('r1', [
              log.next({ type: 'log', stepId: 'a', attempt: 1, stream: 'stdout', text: 'x' }),
            ]);
            await store.requestCancel('r1', 'while reading');
            expect((await store.runState('r1'))?.lastSeq).toBe(log.seq);
          }
        }
        expect(seen).toBeGreaterThanOrEqual(2_500);
        expect((await collect(store.readEvents('r1'))).length).toBe(log.seq);
      });

      it('filters by afterSeq, stepId and types', async () => {
        const store = await create();
        await store.createRun(runRecord('r1', { steps: ['a', 'b'] }));
        const log = new EventLog('r1');
        const events = [
          log.next({ type: 'run-started', pipeline: 'pipe', resumed: false }),
          log.next({ type: 'queued', stepId: 'a' }),
          log.next({ type: 'queued', stepId: 'b' }),
          log.next(startedEvent('a')),
          log.next({ type: 'log', stepId: 'a', attempt: 1, stream: 'stdout', text: 'hello' }),
          log.next(startedEvent('b')),
          log.next({ type: 'log', stepId: 'b', attempt: 1, stream: 'stderr', text: 'oops' }),
          log.next(succeededEvent('a')),
          log.next(succeededEvent('b')),
          log.next({ type: 'run-succeeded', durationMs: 9 }),
        ];
        await store.append('r1', events);
        const seqs = async (o: Parameters<Store['readEvents']>[1]): Promise<number[]> =>
          (await collect(store.readEvents('r1', o))).map((e) => e.seq);
        expect(await seqs({ afterSeq: 7 })).toEqual([8, 9, 10]);
        expect(await seqs({ afterSeq: 10 })).toEqual([]);
        expect(await seqs({ afterSeq: 0 })).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        expect(await seqs({ stepId: 'a' })).toEqual([2, 4, 5, 8]);
        expect(await seqs({ stepId: 'zzz' })).toEqual([]);
        expect(await seqs({ types: ['log'] })).toEqual([5, 7]);
        expect(await seqs({ types: ['run-started', 'run-succeeded'] })).toEqual([1, 10]);
        expect(await seqs({ types: [] })).toEqual([]);
        expect(await seqs({ stepId: 'b', types: ['log', 'succeeded'] })).toEqual([7, 9]);
        expect(await seqs({ stepId: 'b', types: ['log', 'succeeded'], afterSeq: 7 })).toEqual([9]);
        expect(await collect(store.readEvents('r1', { types: ['log'], stepId: 'a' }))).toEqual([events[4]]);
      });

      it('rejects a batch with a gap, a repeat or a foreign run id, and writes none of it', async () => {
        const store = await create();
        await store.createRun(runRecord('r1', { steps: ['a'] }));
        const log = new EventLog('r1');
        const good = [
          log.next({ type: 'run-started', pipeline: 'pipe', resumed: false }),
          log.next({ type: 'queued', stepId: 'a' }),
        ];
        await store.append('r1', good);
        const before = await store.runState('r1');
        const at = (seq: number, stepId = 'a'): RunEvent => ({
          runId: 'r1',
          seq,
          time: 99,
          type: 'queued',
          stepId,
        });
        const bad: RunEvent[][] = [
          [at(4)], // gap at the start
          [at(2)], // repeat
          [at(1)],
          [at(3), at(5)], // gap inside the batch: its valid first event must not be written either
          [at(3), at(3)],
          [at(3), { ...at(4), runId: 'r2' }],
          [{ ...at(3), runId: 'r2' }],
        ];
        for (const batch of bad) {
          await expectCode(store.append('r1', batch), 'CORE_STORE_FAILED');
        }
        await expect(store.append('r1', [at(4)])).rejects.toThrow(/expected.*3.*got.*4/i);
        expect(await collect(store.readEvents('r1'))).toEqual(good);
        expect(await store.runState('r1')).toEqual(before);
        // The log still continues where it was.
        await store.append('r1', [at(3)]);
        expect((await store.runState('r1'))?.lastSeq).toBe(3);
      });

      it('requires the first event of a run to be seq 1', async () => {
        const store = await create();
        await store.createRun(runRecord('r1'));
        await expectCode(
          store.append('r1', [{ runId: 'r1', seq: 2, time: 1, type: 'queued', stepId: 'a' }]),
          'CORE_STORE_FAILED',
        );
        await expectCode(
          store.append('r1', [{ runId: 'r1', seq: 0, time: 1, type: 'queued', stepId: 'a' }]),
          'CORE_STORE_FAILED',
        );
        expect(await collect(store.readEvents('r1'))).toEqual([]);
      });

      it('rejects appends to an unknown run', async () => {
        const store = await create();
        await expectCode(
          store.append('nope', [{ runId: 'nope', seq: 1, time: 1, type: 'queued', stepId: 'a' }]),
          'CORE_RUN_NOT_FOUND',
        );
      });

      it('keeps the logs of runs apart', async () => {
        const store = await create();
        await store.createRun(runRecord('r1', { steps: ['a'] }));
        await store.createRun(runRecord('r2', { steps: ['a'] }));
        const l1 = new EventLog('r1');
        const l2 = new EventLog('r2');
        await store.append('r1', [l1.next({ type: 'queued', stepId: 'a' })]);
        await store.append('r2', [l2.next({ type: 'queued', stepId: 'a' }), l2.next(startedEvent('a'))]);
        await store.append('r1', [l1.next(startedEvent('a'))]);
        expect((await collect(store.readEvents('r1'))).map((e) => [e.runId, e.seq])).toEqual([
          ['r1', 1],
          ['r1', 2],
        ]);
        expect((await store.runState('r2'))?.lastSeq).toBe(2);
      });
    });

    describe('materialised state', () => {
      it('follows every event type, equal to reduceRunState folded over the log', async () => {
        const store = await create();
        const record = runRecord('r1', { steps: ['a', 'b', 'c', 'd', 'e', 'idle'] });
        await store.createRun(record);
        const { log, events } = scenario('r1');

        let expected = initialRunState(record);
        for (const event of events) {
          await store.append('r1', [event]);
          expected = reduceRunState(expected, event);
          expect(await store.runState('r1')).toEqual(expected);
        }
        const state = (await store.runState('r1'))!;
        expect(state.status).toBe('failed');
        expect(state.error).toEqual(error('E_RUN', 'step b failed'));
        expect(state.lastSeq).toBe(log.seq);
        expect(state.updatedAt).toBe(log.time);
        expect(state.steps.idle).toEqual({ stepId: 'idle', status: 'pending', attempt: 0 });
        expect(state.steps.a).toEqual({
          stepId: 'a',
          status: 'succeeded',
          attempt: 2,
          key: 'key-a',
          keyParts: keyParts('a'),
          startedAt: timeOf(events, 'started', 'a', 2),
          endedAt: timeOf(events, 'succeeded', 'a'),
          outputs: { answer: 'a' },
          artifacts: [artifact('a')],
        });
        expect(state.steps.b).toMatchObject({ status: 'failed', attempt: 1, error: error('E_B', 'b broke') });
        expect(state.steps.b?.endedAt).toBe(timeOf(events, 'failed', 'b'));
        expect(state.steps.c).toMatchObject({
          status: 'cached',
          key: 'key-c',
          keyParts: keyParts('c'),
          outputs: { answer: 'c' },
          artifacts: [artifact('c')],
          fromRunId: 'earlier-run',
          endedAt: timeOf(events, 'cached', 'c'),
        });
        expect(state.steps.d).toMatchObject({
          status: 'cancelled',
          endedAt: timeOf(events, 'cancelled', 'd'),
        });
        expect(state.steps.e).toMatchObject({ status: 'running', attempt: 1, error: error('E_E', 'flaky') });
        expect(state.steps.outside).toMatchObject({ status: 'queued', attempt: 0 });
        // A batch of many events gives the same state as one event at a time.
        const other = await create();
        await other.createRun(record);
        await other.append('r1', events);
        expect(await other.runState('r1')).toEqual(expected);
      });

      it('keeps step ids and outputs named __proto__ or like Object.prototype members as data', async () => {
        // The planner refuses a `__proto__` step id, but runs recorded before it did hold them.
        const ids = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];
        const store = await create();
        await store.createRun(runRecord('names', { steps: ids }));
        const log = new EventLog('names');
        const outputs = JSON.parse('{"__proto__": 1, "constructor": 2}') as Record<string, unknown>;
        await store.append(
          'names',
          ids.map((stepId) => log.next({ type: 'queued', stepId })),
        );
        await store.append('names', [
          log.next(startedEvent('__proto__')),
          log.next({
            type: 'succeeded',
            stepId: '__proto__',
            attempt: 1,
            outputs,
            artifacts: [],
            durationMs: 1,
          }),
        ]);
        await store.putCache({ ...cacheRecord('k-names', 'pipe/__proto__', 'names', 1_000), outputs });
        const check = async (current: Store) => {
          const state = (await current.runState('names'))!;
          expect(Object.keys(state.steps)).toEqual(ids);
          expect(ids.map((id) => Object.hasOwn(state.steps, id) && state.steps[id]?.stepId)).toEqual(ids);
          expect(state.steps['__proto__']?.status).toBe('succeeded');
          expect(Object.entries(state.steps['__proto__']?.outputs ?? {})).toEqual(Object.entries(outputs));
          expect(Object.entries((await current.getCache('k-names'))?.outputs ?? {})).toEqual(
            Object.entries(outputs),
          );
          const [summary] = await current.listRuns();
          expect(summary?.counts).toEqual({ succeeded: 1, queued: 3 });
        };
        await check(store);
        await check(await reopen(store));
      });

      it('records run success and cancellation', async () => {
        const store = await create();
        await store.createRun(runRecord('ok'));
        await store.createRun(runRecord('stop'));
        const ok = new EventLog('ok');
        await store.append('ok', [ok.next({ type: 'run-started', pipeline: 'pipe', resumed: false })]);
        await store.append('ok', [ok.next({ type: 'run-succeeded', durationMs: 5 })]);
        expect(await store.runState('ok')).toMatchObject({
          status: 'succeeded',
          lastSeq: 2,
          updatedAt: ok.time,
        });
        const stop = new EventLog('stop');
        await store.append('stop', [
          stop.next({ type: 'run-started', pipeline: 'pipe', resumed: false }),
          stop.next({ type: 'run-cancelled', reason: 'user asked', durationMs: 5 }),
        ]);
        expect(await store.runState('stop')).toMatchObject({
          status: 'cancelled',
          cancelReason: 'user asked',
        });
      });
    });

    describe('cache', () => {
      it('puts and gets records, a later put replacing an earlier one', async () => {
        const store = await create();
        const record = cacheRecord('k1', 'pipe/a', 'r1', 1_000);
        await store.putCache(record);
        expect(await store.getCache('k1')).toEqual(record);
        expect(await store.getCache('k2')).toBeUndefined();
        const replaced = { ...cacheRecord('k1', 'pipe/a', 'r2', 2_000), outputs: { other: [1, 2] } };
        await store.putCache(replaced);
        expect(await store.getCache('k1')).toEqual(replaced);
      });

      it('finds the newest record of a scope before a time, optionally excluding a run', async () => {
        const store = await create();
        await store.putCache(cacheRecord('k1', 'pipe/a', 'r1', 1_000));
        await store.putCache(cacheRecord('k2', 'pipe/a', 'r2', 2_000));
        await store.putCache(cacheRecord('k3', 'pipe/a', 'r3', 3_000));
        await store.putCache(cacheRecord('k4', 'pipe/b', 'r3', 2_500));
        expect((await store.previousCache('pipe/a', 10_000))?.key).toBe('k3');
        expect((await store.previousCache('pipe/a', 3_000))?.key).toBe('k2');
        expect((await store.previousCache('pipe/a', 2_999))?.key).toBe('k2');
        expect((await store.previousCache('pipe/a', 10_000, 'r3'))?.key).toBe('k2');
        expect((await store.previousCache('pipe/a', 10_000, 'nobody'))?.key).toBe('k3');
        expect(await store.previousCache('pipe/a', 1_000)).toBeUndefined();
        expect(await store.previousCache('pipe/c', 10_000)).toBeUndefined();
        expect(await store.previousCache('pipe/a', 2_000, 'r1')).toBeUndefined();
        expect(await store.previousCache('pipe/b', 10_000)).toEqual(cacheRecord('k4', 'pipe/b', 'r3', 2_500));
      });
    });

    describe('cancellation', () => {
      it('records the first reason and ignores later ones', async () => {
        const store = await create();
        await store.createRun(runRecord('r1'));
        expect(await store.cancelRequested('r1')).toBeUndefined();
        await store.requestCancel('r1', 'first');
        await store.requestCancel('r1', 'second');
        expect(await store.cancelRequested('r1')).toBe('first');
        expect(await store.cancelRequested('nope')).toBeUndefined();
        // The request does not change the run's log.
        expect((await store.runState('r1'))?.lastSeq).toBe(0);
      });

      it('rejects a request for an unknown run', async () => {
        const store = await create();
        await expectCode(store.requestCancel('nope', 'x'), 'CORE_RUN_NOT_FOUND');
      });
    });

    describe('ownership', () => {
      const host = hostname();

      it('lets the same process claim a run again', async () => {
        const store = await create();
        await store.createRun(runRecord('r1'));
        await store.claimRun('r1', { pid: process.pid, host });
        await store.claimRun('r1', { pid: process.pid, host });
      });

      it('refuses a claim while another live process on this host owns the run', async () => {
        const store = await create();
        await store.createRun(runRecord('r1'));
        const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
        children.push(sleeper);
        await once(sleeper, 'spawn');
        const pid = sleeper.pid!;
        await store.claimRun('r1', { pid, host });
        const claim = store.claimRun('r1', { pid: process.pid, host });
        await expectCode(claim, 'CORE_RUN_ACTIVE');
        await claim.catch((e: unknown) => {
          expect(String((e as Error).message)).toContain(String(pid));
        });
        // Released: free to claim.
        await store.releaseRun('r1', { pid, host });
        await store.claimRun('r1', { pid: process.pid, host });
        // A release by a process that does not own the run changes nothing.
        await store.releaseRun('r1', { pid, host });
        await expectCode(store.claimRun('r1', { pid, host }), 'CORE_RUN_ACTIVE');
      });

      it('takes over a run whose owner is dead', async () => {
        const store = await create();
        await store.createRun(runRecord('r1'));
        const pid = await deadPid();
        await store.claimRun('r1', { pid, host });
        await store.claimRun('r1', { pid: process.pid, host });
        // The takeover is recorded: the dead process is no longer the owner.
        const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
        children.push(sleeper);
        await once(sleeper, 'spawn');
        await expectCode(store.claimRun('r1', { pid: sleeper.pid!, host }), 'CORE_RUN_ACTIVE');
      });

      it('rejects a claim of an unknown run', async () => {
        const store = await create();
        await expectCode(store.claimRun('nope', { pid: process.pid, host }), 'CORE_RUN_NOT_FOUND');
      });
    });

    // Optional in the contract: a store that offers collectGarbage is held to the one retention rule.
    describe('garbage collection', () => {
      /** The store, or a skipped test for a store that keeps everything. */
      async function collectingStore(skip: () => void): Promise<CollectingStore> {
        const store = await create();
        if (store.collectGarbage === undefined) skip();
        return store as CollectingStore;
      }

      it('collects old finished runs only, keeps the cache, and a dry run changes nothing', async (ctx) => {
        let store = await collectingStore(() => ctx.skip());
        const now = Date.now();
        const old = now - 10 * DAY_MS;
        await addRun(store, 'old-succeeded', { createdAt: 1, time: old, end: 'run-succeeded' });
        await addRun(store, 'old-running', { createdAt: 2, time: old });
        await store.claimRun('old-running', { pid: process.pid, host: hostname() });
        await addRun(store, 'old-interrupted', { createdAt: 3, time: old });
        await store.claimRun('old-interrupted', { pid: await deadPid(), host: hostname() });
        await addRun(store, 'old-failed', { createdAt: 4, time: old, end: 'run-failed' });
        await addRun(store, 'old-cancelled', { createdAt: 5, time: old, end: 'run-cancelled' });
        await addRun(store, 'recent', { createdAt: 6, time: now, end: 'run-succeeded' });
        const cache = cacheRecord('k-old', 'pipe/a', 'old-succeeded', old);
        await store.putCache(cache);
        const runs = await store.listRuns();
        expect(runs.find((run) => run.id === 'old-interrupted')?.interrupted).toBe(true);
        const ids = [
          'old-succeeded',
          'old-running',
          'old-interrupted',
          'old-failed',
          'old-cancelled',
          'recent',
        ];
        const before = await snapshot(store, ids);

        const dry = await store.collectGarbage({ keepDays: 7, dryRun: true });
        expect(dry).toMatchObject({
          runs: ['old-cancelled', 'old-failed', 'old-succeeded'],
          events: 9,
          dryRun: true,
        });
        expect(dry.reclaimedBytes).toBeGreaterThanOrEqual(0);
        expect(await store.listRuns()).toEqual(runs);
        expect(await snapshot(store, ids)).toEqual(before);

        const report = await store.collectGarbage({ keepDays: 7 });
        expect(report).toMatchObject({
          runs: ['old-cancelled', 'old-failed', 'old-succeeded'],
          events: 9,
          dryRun: false,
        });
        expect(report.reclaimedBytes).toBeGreaterThanOrEqual(0);
        const expectCollected = async (): Promise<void> => {
          expect((await store.listRuns()).map((run) => run.id)).toEqual([
            'recent',
            'old-interrupted',
            'old-running',
          ]);
          for (const id of report.runs) {
            expect(await store.getRun(id), id).toBeUndefined();
            expect(await store.runState(id), id).toBeUndefined();
            expect(await collect(store.readEvents(id)), id).toEqual([]);
          }
          const kept = await snapshot(store, ['old-running', 'old-interrupted', 'recent']);
          expect(kept).toEqual(before.slice(1, 3).concat(before.slice(5)));
          expect(await store.getCache('k-old')).toEqual(cache);
        };
        await expectCollected();
        store = (await reopen(store)) as CollectingStore;
        await expectCollected();
      });

      it('keeps the newest runs by count, and collects nothing without a limit', async (ctx) => {
        const store = await collectingStore(() => ctx.skip());
        for (let i = 1; i <= 5; i++) {
          await addRun(store, `r${i}`, { createdAt: i, time: i, end: 'run-succeeded' });
        }
        expect(await store.collectGarbage({})).toMatchObject({ runs: [], events: 0 });
        expect((await store.collectGarbage({ keepRuns: 2 })).runs).toEqual(['r3', 'r2', 'r1']);
        expect((await store.listRuns()).map((run) => run.id)).toEqual(['r5', 'r4']);
        // keepDays and keepRuns together: a run goes only when both let it go.
        await addRun(store, 'r6', { createdAt: 6, time: Date.now(), end: 'run-succeeded' });
        expect((await store.collectGarbage({ keepDays: 1, keepRuns: 1 })).runs).toEqual(['r5', 'r4']);
        expect((await store.listRuns()).map((run) => run.id)).toEqual(['r6']);
      });

      it('refuses a negative or fractional limit, collecting nothing', async (ctx) => {
        const store = await collectingStore(() => ctx.skip());
        await addRun(store, 'r1', { createdAt: 1, time: 1, end: 'run-succeeded' });
        await expectCode(store.collectGarbage({ keepRuns: -1 }), 'CORE_PARAMS_INVALID');
        await expectCode(store.collectGarbage({ keepRuns: 1.5 }), 'CORE_PARAMS_INVALID');
        await expectCode(store.collectGarbage({ keepDays: -1 }), 'CORE_PARAMS_INVALID');
        expect((await store.listRuns()).map((run) => run.id)).toEqual(['r1']);
      });
    });

    // Only stores that can be reopened have durability to check; the others have no such block at all.
    const describeDurability = options.reopen === undefined ? () => undefined : describe;
    describeDurability('durability', () => {
      it('keeps runs, events, state, cache, cancellation and ownership across a reopen', async () => {
        let store = await create();
        const record = runRecord('r1', { steps: ['a', 'b', 'c', 'd', 'e'], source: 'p.yaml' });
        await store.createRun(record);
        await store.createRun(runRecord('r2', { createdAt: 5 }));
        const { events } = scenario('r1');
        await store.append('r1', events.slice(0, 5));
        await store.append('r1', events.slice(5));
        const cache = cacheRecord('k1', 'pipe/a', 'r1', 1_000);
        await store.putCache(cache);
        await store.requestCancel('r2', 'why not');
        const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
        children.push(sleeper);
        await once(sleeper, 'spawn');
        await store.claimRun('r2', { pid: sleeper.pid!, host: hostname() });
        const state = await store.runState('r1');
        const runs = await store.listRuns();

        store = await reopen(store);
        expect(await store.getRun('r1')).toEqual(record);
        expect(await collect(store.readEvents('r1'))).toEqual(events);
        expect(await store.runState('r1')).toEqual(state);
        expect(await store.runState('r1')).toEqual(events.reduce(reduceRunState, initialRunState(record)));
        expect(await store.listRuns()).toEqual(runs);
        expect(await store.getCache('k1')).toEqual(cache);
        expect(await store.cancelRequested('r2')).toBe('why not');
        await expectCode(store.claimRun('r2', { pid: process.pid, host: hostname() }), 'CORE_RUN_ACTIVE');
        // And the log continues after the reopen.
        const last = events[events.length - 1]!;
        await store.append('r1', [
          { runId: 'r1', seq: last.seq + 1, time: last.time + 1, type: 'run-succeeded', durationMs: 1 },
        ]);
        expect((await store.runState('r1'))?.status).toBe('succeeded');
      });
    });
  });
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** A store that offers the optional garbage collection. */
type CollectingStore = Store & Required<Pick<Store, 'collectGarbage'>>;

/**
 * A run of three events at `time` (started, a log line, and `end` when given; otherwise it is still
 * running), created at `createdAt`.
 */
async function addRun(
  store: Store,
  id: string,
  options: { createdAt: number; time: number; end?: 'run-succeeded' | 'run-failed' | 'run-cancelled' },
): Promise<void> {
  await store.createRun(runRecord(id, { createdAt: options.createdAt, steps: ['a'] }));
  const inits: RunEventInit[] = [
    { type: 'run-started', pipeline: 'pipe', resumed: false },
    { type: 'log', stepId: 'a', attempt: 1, stream: 'stdout', text: `${id}\n`.repeat(2000) },
  ];
  if (options.end === 'run-succeeded') inits.push({ type: 'run-succeeded', durationMs: 1 });
  if (options.end === 'run-failed') {
    inits.push({ type: 'run-failed', error: error('E_RUN', 'failed'), durationMs: 1 });
  }
  if (options.end === 'run-cancelled') inits.push({ type: 'run-cancelled', reason: 'stop', durationMs: 1 });
  await store.append(
    id,
    inits.map((init, i) => ({ ...init, runId: id, seq: i + 1, time: options.time })),
  );
}

/** Everything a store tells about these runs: records, states and events. */
async function snapshot(store: Store, ids: readonly string[]): Promise<unknown[]> {
  const all: unknown[] = [];
  for (const id of ids) {
    all.push([await store.getRun(id), await store.runState(id), await collect(store.readEvents(id))]);
  }
  return all;
}

/** Stamps events with the run id, consecutive seqs and increasing times. */
class EventLog {
  seq = 0;
  constructor(
    readonly runId: string,
    public time = 10_000,
  ) {}

  next(init: RunEventInit): RunEvent {
    this.seq += 1;
    this.time += 7;
    return { ...init, runId: this.runId, seq: this.seq, time: this.time };
  }
}

/** A run that uses every event type: steps a (retried, succeeds), b (fails), c (cached), d (cancelled), e (retrying). */
function scenario(runId: string): { log: EventLog; events: RunEvent[] } {
  const log = new EventLog(runId);
  const events: RunEvent[] = [
    log.next({ type: 'run-started', pipeline: 'pipe', resumed: false }),
    log.next({ type: 'queued', stepId: 'a' }),
    log.next(startedEvent('a', 1)),
    log.next({ type: 'progress', stepId: 'a', attempt: 1, current: 1, total: 2, message: 'half' }),
    log.next({ type: 'log', stepId: 'a', attempt: 1, stream: 'stdout', text: 'working\n' }),
    log.next({ type: 'metric', stepId: 'a', attempt: 1, name: 'loss', value: 0.5, step: 1 }),
    log.next({ type: 'retrying', stepId: 'a', attempt: 1, delayMs: 10, error: error('E_A', 'transient') }),
    log.next(startedEvent('a', 2)),
    log.next({ type: 'artifact', stepId: 'a', attempt: 2, artifact: artifact('a') }),
    log.next(succeededEvent('a')),
    log.next({ type: 'queued', stepId: 'b' }),
    log.next(startedEvent('b')),
    log.next({ type: 'failed', stepId: 'b', attempt: 1, error: error('E_B', 'b broke'), durationMs: 3 }),
    log.next({
      type: 'cached',
      stepId: 'c',
      key: 'key-c',
      keyParts: keyParts('c'),
      outputs: { answer: 'c' },
      artifacts: [artifact('c')],
      fromRunId: 'earlier-run',
    }),
    log.next({ type: 'queued', stepId: 'd' }),
    log.next({ type: 'cancelled', stepId: 'd', reason: 'run failed' }),
    log.next(startedEvent('e')),
    log.next({ type: 'retrying', stepId: 'e', attempt: 1, delayMs: 10, error: error('E_E', 'flaky') }),
    log.next({ type: 'queued', stepId: 'outside' }),
    log.next({ type: 'run-failed', error: error('E_RUN', 'step b failed'), durationMs: 100 }),
  ];
  return { log, events };
}

function runRecord(
  id: string,
  options: { steps?: string[]; source?: string; createdAt?: number; pipeline?: string } = {},
): RunRecord {
  const record: RunRecord = {
    id,
    pipeline: options.pipeline ?? 'pipe',
    plan: {
      pipeline: options.pipeline ?? 'pipe',
      steps: (options.steps ?? []).map((stepId) => ({ id: stepId, baseId: stepId, uses: 'exec', needs: [] })),
      params: { n: 1 },
    },
    params: { n: 1 },
    cwd: '/work/dir',
    createdAt: options.createdAt ?? 10_000,
  };
  if (options.source !== undefined) record.source = options.source;
  return record;
}

function startedEvent(stepId: string, attempt = 1): RunEventInit {
  return {
    type: 'started',
    stepId,
    attempt,
    resources: { cpus: 1, memoryMb: 0, gpus: [] },
    key: `key-${stepId}`,
    keyParts: keyParts(stepId),
  };
}

function succeededEvent(stepId: string): RunEventInit {
  return {
    type: 'succeeded',
    stepId,
    attempt: 2,
    outputs: { answer: stepId },
    artifacts: [artifact(stepId)],
    durationMs: 12,
  };
}

function keyParts(stepId: string): CacheKeyParts {
  return {
    command: 'exec',
    commandVersion: '1',
    params: JSON.stringify({ step: stepId }),
    inputs: { 'up/out.txt': 'ab'.repeat(32) },
    runner: 'local@test',
  };
}

function artifact(stepId: string): Artifact {
  return {
    name: `${stepId}.txt`,
    path: `/work/dir/${stepId}.txt`,
    sha256: 'cd'.repeat(32),
    size: 42,
    kind: 'file',
  };
}

function error(code: string, message: string): ErrorInfo {
  return { code, message, retryable: code !== 'E_B' };
}

function cacheRecord(key: string, scope: string, runId: string, createdAt: number): CacheRecord {
  return {
    key,
    keyParts: keyParts(key),
    scope,
    outputs: { value: key, nested: { list: [1, 'two', null] } },
    artifacts: [artifact(key)],
    runId,
    stepId: scope.split('/')[1] ?? 'a',
    createdAt,
  };
}

function timeOf(
  events: RunEvent[],
  type: RunEvent['type'],
  stepId: string,
  attempt?: number,
): number | undefined {
  return events.find(
    (e) =>
      e.type === type &&
      'stepId' in e &&
      e.stepId === stepId &&
      (attempt === undefined || ('attempt' in e && e.attempt === attempt)),
  )?.time;
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

async function expectCode(promise: Promise<unknown>, code: CoreErrorCode): Promise<void> {
  const outcome = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(outcome, `expected a CoreError ${code}`).toBeInstanceOf(Error);
  expect(isCoreError(outcome) ? outcome.code : outcome).toBe(code);
}

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const pid = child.pid!;
  await once(child, 'exit');
  return pid;
}
