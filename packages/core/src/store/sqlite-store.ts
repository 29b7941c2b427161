import { hostname } from 'node:os';
import { setImmediate } from 'node:timers/promises';
import { resolve } from 'node:path';
import type Database from 'better-sqlite3';
import type { RunEvent } from '../contracts/events.js';
import type {
  CacheRecord,
  CollectGarbageOptions,
  GarbageReport,
  ListRunsOptions,
  ReadEventsOptions,
  RetentionPolicy,
  RunOwner,
  RunRecord,
  RunState,
  RunSummary,
  Store,
} from '../contracts/store.js';
import { CoreError } from '../errors/core-error.js';
import { getCache, previousCache, putCache } from './sqlite/cache-index.js';
import { cancelRequested, claimRun, releaseRun, requestCancel } from './sqlite/claims.js';
import { collectGarbage, collectOnOpen } from './sqlite/garbage-collection.js';
import { LogTexts } from './sqlite/log-texts.js';
import { eventQuery } from './sqlite/read-events.js';
import { listRuns, readRun, readRunState } from './sqlite/run-reads.js';
import { appendEvents, insertRun } from './sqlite/run-writes.js';
import { storeError } from './sqlite/sqlite-error.js';
import { prepareStatements } from './sqlite/statements.js';
import type { StoreDatabase } from './sqlite/store-database.js';
import type { StoreWarning } from './sqlite/store-warning.js';
import { openStoreDatabase } from './sqlite/store-file.js';
import { BUSY_STORE_APPENDS, WalCheckpointer } from './sqlite/wal-checkpointer.js';

export type { StoreWarning } from './sqlite/store-warning.js';

/** Options of {@link SqliteStore.open}. */
export interface SqliteStoreOptions {
  /**
   * Database file; relative paths resolve against `cwd`. `:memory:` gives a private in-memory
   * database. Default: `<cwd>/.beamline/beamline.db`.
   */
  path?: string;
  /** Base directory for the default and relative paths. Default: `process.cwd()`. */
  cwd?: string;
  /**
   * Told about problems the store works around rather than fails on: log text missing from a truncated
   * log text file, a retention pass that could not run. The runtime passes these on as `store` warnings
   * of its event sink (`Runtime.events$`).
   */
  onWarning?: (warning: StoreWarning) => void;
  /**
   * Collect old finished runs and their log text by this policy when the store opens, at most once a
   * day (see {@link SqliteStore.collectGarbage}). Default: keep everything.
   */
  retention?: RetentionPolicy;
}

/**
 * The embedded default {@link Store}: one SQLite file (better-sqlite3) that several processes may share.
 *
 * Durability: WAL journal with `synchronous=NORMAL`. A committed `append` survives a crash of the
 * process (`kill -9`), which is the Store contract; a power loss or OS crash may lose the last few
 * transactions (never corrupts the file). Writers take the lock at the start of their transaction
 * (`BEGIN IMMEDIATE`) and wait up to 10 s (`busy_timeout`) for another process's write.
 *
 * Step and run state are materialised in the same transaction as the append, with `reduceRunState`.
 *
 * The text of large `log` events is kept in an append-only file next to the database (`<db>-text`, or
 * `<db>-text.<n>` once garbage collection rewrote it), written under the transaction's lock before it
 * commits; copy or move the database and its `-text*` file together. A `:memory:` database keeps all text
 * in its rows.
 *
 * The class composes the modules of `./sqlite/`: the store file and its schema, prepared statements,
 * run reads and writes, the log text files, claims and cancellation, and garbage collection.
 */
export class SqliteStore implements Store {
  readonly description: string;
  /** The database file (or `:memory:`). */
  readonly path: string;

  readonly #database: StoreDatabase;
  readonly #host = hostname();
  readonly #appendTx: (runId: string, events: readonly RunEvent[]) => void;
  readonly #createTx: (run: RunRecord) => void;
  readonly #claimTx: (runId: string, owner: RunOwner) => void;
  readonly #checkpointer: WalCheckpointer | undefined;
  #appends = 0;
  #closed = false;

  private constructor(db: Database.Database, path: string, options: SqliteStoreOptions) {
    this.path = path;
    this.description = `sqlite:${path}`;
    const statements = prepareStatements(db);
    const warn = (warning: StoreWarning): void => options.onWarning?.(warning);
    const texts =
      path === ':memory:'
        ? undefined
        : new LogTexts(path, () => statements.textGeneration.get() as number, warn);
    const database: StoreDatabase = { db, path, statements, texts, warn };
    this.#database = database;
    this.#checkpointer =
      path === ':memory:'
        ? undefined
        : new WalCheckpointer(path, (pages) => db.pragma(`wal_autocheckpoint = ${pages}`));
    // `.immediate`: taking the write lock up front makes busy_timeout apply; a deferred transaction
    // that reads and then writes fails at once with SQLITE_BUSY when another process wrote meanwhile.
    const appendTx = db.transaction((runId: string, events: readonly RunEvent[]) =>
      appendEvents(database, runId, events),
    );
    const createTx = db.transaction((run: RunRecord) => insertRun(database, run));
    const claimTx = db.transaction((runId: string, owner: RunOwner) =>
      claimRun(database, this.#host, runId, owner),
    );
    this.#appendTx = (runId, events) => appendTx.immediate(runId, events);
    this.#createTx = (run) => createTx.immediate(run);
    this.#claimTx = (runId, owner) => claimTx.immediate(runId, owner);
  }

  /**
   * Opens (creating it and its folder if needed) the database and brings its schema up to date. A new
   * database is created complete under a temporary name and linked into place, so a file at `path` is
   * always a whole store: an empty (0-byte) file there, or a SQLite database without Beamline's schema, is
   * reported, never taken for a new store.
   * @throws CoreError `CORE_STORE_FAILED` when the file cannot be opened, is empty or not a Beamline
   * store, or was written by a newer schema version.
   */
  static open(options: SqliteStoreOptions = {}): SqliteStore {
    const cwd = options.cwd ?? process.cwd();
    const path =
      options.path === ':memory:' ? ':memory:' : resolve(cwd, options.path ?? '.beamline/beamline.db');
    let db: Database.Database | undefined;
    try {
      db = openStoreDatabase(path);
      const store = new SqliteStore(db, path, options);
      if (options.retention !== undefined) collectOnOpen(store.#database, options.retention);
      return store;
    } catch (error) {
      db?.close();
      throw storeError(`opening ${path}`, error);
    }
  }

  createRun(run: RunRecord): Promise<void> {
    return this.#call('createRun', () => this.#createTx(run));
  }

  getRun(runId: string): Promise<RunRecord | undefined> {
    return this.#call('getRun', () => readRun(this.#database, runId));
  }

  listRuns(options: ListRunsOptions = {}): Promise<RunSummary[]> {
    return this.#call('listRuns', () => listRuns(this.#database, options));
  }

  append(runId: string, events: readonly RunEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    if (++this.#appends === BUSY_STORE_APPENDS) this.#checkpointer?.start();
    return this.#call('append', () => this.#appendTx(runId, events));
  }

  async *readEvents(runId: string, options: ReadEventsOptions = {}): AsyncIterable<RunEvent> {
    if (options.types !== undefined && options.types.length === 0) return;
    const query = eventQuery(this.#database, runId, options);
    let afterSeq = options.afterSeq ?? 0;
    for (;;) {
      // The page is read whole before the first yield: the consumer may call the store between events.
      let page: ReturnType<typeof query.page>;
      try {
        this.#assertOpen();
        page = query.page(afterSeq);
      } catch (error) {
        throw storeError('readEvents', error);
      }
      for (const event of page.events) yield event;
      if (page.done) return;
      afterSeq = page.lastSeq;
      // A consumer that never awaits anything else would otherwise read a 400,000-event log in one
      // go of microtasks, starving timers and I/O (the engine's heartbeat, a cancel signal).
      await setImmediate();
    }
  }

  runState(runId: string): Promise<RunState | undefined> {
    return this.#call('runState', () => readRunState(this.#database, runId));
  }

  getCache(key: string): Promise<CacheRecord | undefined> {
    return this.#call('getCache', () => getCache(this.#database, key));
  }

  putCache(record: CacheRecord): Promise<void> {
    return this.#call('putCache', () => putCache(this.#database, record));
  }

  previousCache(scope: string, before: number, excludeRunId?: string): Promise<CacheRecord | undefined> {
    return this.#call('previousCache', () => previousCache(this.#database, scope, before, excludeRunId));
  }

  requestCancel(runId: string, reason: string): Promise<void> {
    return this.#call('requestCancel', () => requestCancel(this.#database, runId, reason));
  }

  cancelRequested(runId: string): Promise<string | undefined> {
    return this.#call('cancelRequested', () => cancelRequested(this.#database, runId));
  }

  claimRun(runId: string, owner: RunOwner): Promise<void> {
    return this.#call('claimRun', () => this.#claimTx(runId, owner));
  }

  releaseRun(runId: string, owner: RunOwner): Promise<void> {
    return this.#call('releaseRun', () => releaseRun(this.#database, runId, owner));
  }

  /**
   * Deletes old finished runs (record, state, events; see {@link RetentionPolicy}) and gives the space
   * of their log text back: the log text file is rewritten with only the text still referenced, under a
   * new name, and the database switches to it in one commit, so a crash (`kill -9`) at any moment leaves
   * either the old file and rows or the new ones, never a mix. Writers in other processes wait for the
   * switch (it holds the write lock while it moves the offsets, about a second per million log events)
   * and pick the new file up by themselves. The file is rewritten only when at least a quarter of it (and
   * 64 KiB) is garbage.
   */
  collectGarbage(options: CollectGarbageOptions): Promise<GarbageReport> {
    return this.#call('collectGarbage', () => collectGarbage(this.#database, options));
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.#checkpointer?.stop();
      this.#database.db.close();
      this.#database.texts?.close();
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new CoreError('CORE_STORE_FAILED', `${this.description} is closed`);
  }

  /** Runs synchronous database work as a promise; failures become CoreErrors. */
  #call<T>(operation: string, work: () => T): Promise<T> {
    try {
      this.#assertOpen();
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(storeError(operation, error));
    }
  }
}
