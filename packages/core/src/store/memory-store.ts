import { hostname } from 'node:os';
import { setImmediate } from 'node:timers/promises';
import type { RunEvent } from '../contracts/events.js';
import type {
  CacheRecord,
  CollectGarbageOptions,
  GarbageReport,
  ListRunsOptions,
  ReadEventsOptions,
  RunOwner,
  RunRecord,
  RunState,
  RunSummary,
  StepStatus,
  Store,
} from '../contracts/store.js';
import { validateAppendBatch } from '../store-kit/append-batch.js';
import { CoreError } from '../errors/core-error.js';
import { runsToCollect } from './retention.js';
import { runActive, runExists, runNotFound } from './store-errors.js';
import { toError } from '../util/error-info.js';
import { applyRunEvent, initialRunState, isInterrupted, ownerBlocksClaim } from './run-state.js';

interface MemoryRun {
  record: RunRecord;
  state: RunState;
  events: RunEvent[];
  owner?: RunOwner;
}

/**
 * A {@link Store} in this process's memory, for tests. It follows the same contract as `SqliteStore`
 * (checked by the same conformance suite) except that nothing survives the process. Values are
 * `structuredClone`d on the way in and out, so callers never share objects with the store.
 */
export class MemoryStore implements Store {
  readonly description = 'memory';

  readonly #runs = new Map<string, MemoryRun>();
  readonly #cache = new Map<string, CacheRecord>();
  readonly #host = hostname();
  #closed = false;

  createRun(run: RunRecord): Promise<void> {
    return this.#call(() => {
      if (this.#runs.has(run.id)) throw runExists(run.id);
      const record = structuredClone(run);
      this.#runs.set(run.id, { record, state: initialRunState(record), events: [] });
    });
  }

  getRun(runId: string): Promise<RunRecord | undefined> {
    return this.#call(() => {
      const run = this.#runs.get(runId);
      return run === undefined ? undefined : structuredClone(run.record);
    });
  }

  listRuns(options: ListRunsOptions = {}): Promise<RunSummary[]> {
    return this.#call(() => {
      // Newest first; among equal creation times, the later created first (as SqliteStore does).
      const runs = [...this.#runs.values()]
        .filter((run) => options.status === undefined || run.state.status === options.status)
        .reverse();
      runs.sort((a, b) => b.record.createdAt - a.record.createdAt);
      const limited = options.limit === undefined || options.limit < 0 ? runs : runs.slice(0, options.limit);
      return limited.map(({ state, owner }) => {
        const counts: Partial<Record<StepStatus, number>> = {};
        for (const step of Object.values(state.steps)) counts[step.status] = (counts[step.status] ?? 0) + 1;
        const summary: RunSummary = {
          id: state.id,
          pipeline: state.pipeline,
          status: state.status,
          createdAt: state.createdAt,
          updatedAt: state.updatedAt,
          counts,
        };
        if (isInterrupted(state.status, owner)) summary.interrupted = true;
        return summary;
      });
    });
  }

  append(runId: string, events: readonly RunEvent[]): Promise<void> {
    return this.#call(() => {
      const run = this.#run(runId);
      validateAppendBatch(runId, run.state.lastSeq, events);
      const copies = structuredClone(events) as RunEvent[];
      // Reduced on a shallow copy and swapped in at the end, so the batch is all or nothing.
      const state: RunState = { ...run.state, steps: { ...run.state.steps } };
      for (const event of copies) applyRunEvent(state, event);
      run.state = state;
      run.events.push(...copies);
    });
  }

  async *readEvents(runId: string, options: ReadEventsOptions = {}): AsyncIterable<RunEvent> {
    const run = this.#runs.get(runId);
    if (run === undefined) return;
    const afterSeq = options.afterSeq ?? 0;
    const types = options.types === undefined ? undefined : new Set<string>(options.types);
    // seq n is at index n - 1: start right after `afterSeq`.
    for (let i = Math.max(0, afterSeq); i < run.events.length; i++) {
      const event = run.events[i];
      if (event === undefined) break;
      if (options.stepId !== undefined && !('stepId' in event && event.stepId === options.stepId)) continue;
      if (types !== undefined && !types.has(event.type)) continue;
      this.#assertOpen();
      yield structuredClone(event);
      // Gives timers and I/O a turn now and then, as SqliteStore does between pages.
      if (i % 2000 === 1999) await setImmediate();
    }
  }

  runState(runId: string): Promise<RunState | undefined> {
    return this.#call(() => {
      const run = this.#runs.get(runId);
      if (run === undefined) return undefined;
      const state = structuredClone(run.state);
      if (isInterrupted(state.status, run.owner)) state.interrupted = true;
      return state;
    });
  }

  getCache(key: string): Promise<CacheRecord | undefined> {
    return this.#call(() => {
      const record = this.#cache.get(key);
      return record === undefined ? undefined : structuredClone(record);
    });
  }

  putCache(record: CacheRecord): Promise<void> {
    return this.#call(() => {
      // delete first so that insertion order stays "last written last", the tie-break of previousCache.
      this.#cache.delete(record.key);
      this.#cache.set(record.key, structuredClone(record));
    });
  }

  previousCache(scope: string, before: number, excludeRunId?: string): Promise<CacheRecord | undefined> {
    return this.#call(() => {
      let best: CacheRecord | undefined;
      for (const record of this.#cache.values()) {
        if (record.scope !== scope || record.createdAt >= before || record.runId === excludeRunId) continue;
        if (best === undefined || record.createdAt >= best.createdAt) best = record;
      }
      return best === undefined ? undefined : structuredClone(best);
    });
  }

  requestCancel(runId: string, reason: string): Promise<void> {
    return this.#call(() => {
      const run = this.#run(runId);
      run.state.cancelReason ??= reason;
    });
  }

  cancelRequested(runId: string): Promise<string | undefined> {
    return this.#call(() => this.#runs.get(runId)?.state.cancelReason);
  }

  claimRun(runId: string, owner: RunOwner): Promise<void> {
    return this.#call(() => {
      const run = this.#run(runId);
      const current = run.owner;
      if (current !== undefined && ownerBlocksClaim(current, owner, this.#host))
        throw runActive(runId, current);
      run.owner = { ...owner };
    });
  }

  releaseRun(runId: string, owner: RunOwner): Promise<void> {
    return this.#call(() => {
      const run = this.#runs.get(runId);
      if (run?.owner?.pid === owner.pid && run.owner.host === owner.host) delete run.owner;
    });
  }

  collectGarbage(options: CollectGarbageOptions): Promise<GarbageReport> {
    return this.#call(() => {
      // Newest first, as SqliteStore orders them.
      const runs = [...this.#runs.values()].reverse().sort((a, b) => b.record.createdAt - a.record.createdAt);
      const victims = runsToCollect(
        runs.map(({ state }) => ({
          id: state.id,
          status: state.status,
          createdAt: state.createdAt,
          updatedAt: state.updatedAt,
        })),
        options,
        Date.now(),
      );
      let events = 0;
      for (const id of victims) {
        events += this.#runs.get(id)?.events.length ?? 0;
        if (options.dryRun !== true) this.#runs.delete(id);
      }
      return { runs: victims, events, reclaimedBytes: 0, dryRun: options.dryRun === true };
    });
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  #run(runId: string): MemoryRun {
    const run = this.#runs.get(runId);
    if (run === undefined) throw runNotFound(runId);
    return run;
  }

  #assertOpen(): void {
    if (this.#closed) throw new CoreError('CORE_STORE_FAILED', 'memory store is closed');
  }

  #call<T>(work: () => T): Promise<T> {
    try {
      this.#assertOpen();
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(toError(error));
    }
  }
}
