import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fstatSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import { setImmediate } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { Artifact } from '../contracts/artifact.js';
import type { StepOutputs } from '../contracts/command.js';
import type { CacheKeyParts, ErrorInfo, RunEvent } from '../contracts/events.js';
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
  RunStatus,
  RunSummary,
  StepState,
  StepStatus,
  Store,
} from '../contracts/store.js';
import { validateAppendBatch } from '../store-kit/append-batch.js';
import { CoreError, isCoreError } from '../errors/core-error.js';
import { BUSY_STORE_APPENDS, WalCheckpointer } from './wal-checkpointer.js';
import { LogTextFile, type TextRange } from './log-text-file.js';
import { commitFile, copyRange, TextMoves } from './compact-log-text.js';
import { checkRetentionPolicy, runsToCollect } from './retention.js';
import { isLiveProcess } from '../process/process-identity.js';
import {
  applyRunEvent,
  changesStepState,
  initialRunState,
  isInterrupted,
  ownerBlocksClaim,
} from './run-state.js';

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

/** A problem a {@link SqliteStore} worked around. */
export interface StoreWarning {
  /** One line for people. */
  message: string;
  details: Record<string, unknown>;
}

/**
 * Schema migrations; entry `n` upgrades `user_version` n to n + 1. Append new entries, never edit old
 * ones: existing databases have already run them.
 */
const MIGRATIONS: readonly string[] = [
  `
  -- The run row is rewritten by every append: the plan and params (megabytes for a 100,000-step
  -- plan) live in run_specs, or every append would copy them.
  CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    cwd TEXT NOT NULL,
    source TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0,
    owner_pid INTEGER,
    owner_host TEXT,
    cancel_reason TEXT,
    error TEXT
  );
  CREATE INDEX runs_created_at ON runs (created_at);

  CREATE TABLE run_specs (
    run_id TEXT PRIMARY KEY,
    plan TEXT,
    params TEXT NOT NULL
  );

  CREATE TABLE events (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    step_id TEXT,
    time INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
  ) WITHOUT ROWID;

  -- status is denormalised from state (and placed before it) so listRuns can count without parsing;
  -- position keeps the plan's order of steps.
  CREATE TABLE steps (
    run_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    position INTEGER,
    status TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (run_id, step_id)
  ) WITHOUT ROWID;

  CREATE TABLE cache (
    key TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    key_parts TEXT NOT NULL,
    outputs TEXT NOT NULL,
    artifacts TEXT NOT NULL,
    run_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX cache_scope_created_at ON cache (scope, created_at);
  `,
  `
  -- The text of a large log event lives in the log text file next to the database (<db>-text), its
  -- UTF-8 bytes at [text_offset, text_offset + text_length); the body then holds "text":"".
  ALTER TABLE events ADD COLUMN text_offset INTEGER;
  ALTER TABLE events ADD COLUMN text_length INTEGER;
  `,
  `
  -- Who owns a run, precisely enough to tell a dead owner from a live one after a crash or a reboot:
  -- the host's boot id and the owner's start time (a reused pid has another one).
  ALTER TABLE runs ADD COLUMN owner_boot_id TEXT;
  ALTER TABLE runs ADD COLUMN owner_start_time INTEGER;
  CREATE INDEX runs_status ON runs (status);
  `,
  `
  -- Facts about the store itself. text_generation: the log text file in use, <db>-text for 0 and
  -- <db>-text.<n> after that; garbage collection writes the next one and switches in one commit.
  CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
  INSERT INTO meta (key, value) VALUES ('text_generation', 0);
  `,
];

/** The schema version this code writes (`PRAGMA user_version`). */
const SCHEMA_VERSION = MIGRATIONS.length;

/** Rows per `readEvents` page, and the text budget of a page (log events may carry ~64 KB each). */
const PAGE_ROWS = 2000;
const PAGE_CHARS = 8 * 1024 * 1024;

/**
 * Log text longer than this (in UTF-8 code units) goes to the log text file: a million lines of output
 * make ~40 MB that JSON.stringify would copy and SQLite would spread over overflow pages. Shorter text,
 * including everything a quiet step prints, stays in the row, so small appends never touch the file.
 */
const INLINE_TEXT_MAX = 4096;

/** A log text file is rewritten only to give back at least this much (and a quarter of it). */
const COMPACT_MIN_GARBAGE = 64 * 1024;

/** Retention at open runs at most this often. */
const RETENTION_INTERVAL_MS = 24 * 60 * 60 * 1000;

/** How long a write waits for another process's write to finish before failing (retryable). */
const BUSY_TIMEOUT_MS = 10_000;

interface RunRow {
  id: string;
  pipeline: string;
  plan: string | null;
  params: string;
  cwd: string;
  source: string | null;
  created_at: number;
  updated_at: number;
  status: RunStatus;
}

interface RunHeadRow extends OwnerRow {
  pipeline: string;
  created_at: number;
  updated_at: number;
  status: RunStatus;
  last_seq: number;
  cancel_reason: string | null;
  error: string | null;
}

interface CacheRow {
  key: string;
  scope: string;
  key_parts: string;
  outputs: string;
  artifacts: string;
  run_id: string;
  step_id: string;
  created_at: number;
}

interface OwnerRow {
  owner_pid: number | null;
  owner_host: string | null;
  owner_boot_id: string | null;
  owner_start_time: number | null;
}

interface EventRow {
  seq: number;
  body: string;
  text_offset: number | null;
  text_length: number | null;
}

type Statement = Database.Statement<unknown[], unknown>;

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
 * The text of large `log` events is kept in an append-only file next to the database (`<db>-text`),
 * written under the transaction's lock before it commits (see {@link LogTextFile}); copy or move both
 * files together. A `:memory:` database keeps all text in its rows.
 */
export class SqliteStore implements Store {
  readonly description: string;
  /** The database file (or `:memory:`). */
  readonly path: string;

  readonly #db: Database.Database;
  readonly #host = hostname();
  readonly #stmt: ReturnType<typeof prepareStatements>;
  readonly #appendTx: (runId: string, events: readonly RunEvent[]) => void;
  readonly #createTx: (run: RunRecord) => void;
  readonly #claimTx: (runId: string, owner: RunOwner) => void;
  #texts: LogTextFile | undefined;
  #textGeneration = 0;
  readonly #onWarning: ((warning: StoreWarning) => void) | undefined;
  #truncationReported = false;
  readonly #checkpointer: WalCheckpointer | undefined;
  #appends = 0;
  #closed = false;

  private constructor(db: Database.Database, path: string, options: SqliteStoreOptions) {
    this.#db = db;
    this.path = path;
    this.description = `sqlite:${path}`;
    this.#onWarning = options.onWarning;
    this.#checkpointer =
      path === ':memory:'
        ? undefined
        : new WalCheckpointer(path, (pages) => db.pragma(`wal_autocheckpoint = ${pages}`));
    this.#stmt = prepareStatements(db);
    if (path !== ':memory:') this.#useTextGeneration(this.#stmt.textGeneration.get() as number);
    // `.immediate`: taking the write lock up front makes busy_timeout apply; a deferred transaction
    // that reads and then writes fails at once with SQLITE_BUSY when another process wrote meanwhile.
    const appendTx = db.transaction((runId: string, events: readonly RunEvent[]) =>
      this.#appendInTx(runId, events),
    );
    const createTx = db.transaction((run: RunRecord) => this.#createInTx(run));
    const claimTx = db.transaction((runId: string, owner: RunOwner) => this.#claimInTx(runId, owner));
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
      if (path === ':memory:') {
        db = openDatabase(path);
        migrate(db);
      } else {
        mkdirSync(dirname(path), { recursive: true });
        createIfMissing(path);
        // Before opening: switching an empty file to WAL would write a header into it.
        if (statSync(path).size === 0) throw notAStore(path, 'is empty (0 bytes)', 0);
        db = openDatabase(path, { fileMustExist: true });
        checkIsStore(db, path);
        migrate(db);
      }
      const store = new SqliteStore(db, path, options);
      if (options.retention !== undefined) store.#retainOnOpen(options.retention);
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
    return this.#call('getRun', () => {
      const row = this.#stmt.getRun.get(runId) as RunRow | undefined;
      if (row === undefined) return undefined;
      const record: RunRecord = {
        id: row.id,
        pipeline: row.pipeline,
        plan: row.plan === null ? undefined : JSON.parse(row.plan),
        params: JSON.parse(row.params) as Record<string, unknown>,
        cwd: row.cwd,
        createdAt: row.created_at,
      };
      if (row.source !== null) record.source = row.source;
      return record;
    });
  }

  listRuns(options: ListRunsOptions = {}): Promise<RunSummary[]> {
    return this.#call('listRuns', () => {
      const limit = options.limit ?? -1;
      const rows = (
        options.status === undefined
          ? this.#stmt.listRuns.all(limit)
          : this.#stmt.listRunsWithStatus.all(options.status, limit)
      ) as (Pick<RunRow, 'id' | 'pipeline' | 'status' | 'created_at' | 'updated_at'> & OwnerRow)[];
      return rows.map((row) => {
        const counts: Partial<Record<StepStatus, number>> = {};
        for (const c of this.#stmt.countSteps.all(row.id) as { status: StepStatus; n: number }[]) {
          counts[c.status] = c.n;
        }
        const summary: RunSummary = {
          id: row.id,
          pipeline: row.pipeline,
          status: row.status,
          createdAt: row.created_at,
          updatedAt: row.updated_at,
          counts,
        };
        if (isInterrupted(row.status, ownerFromRow(row))) summary.interrupted = true;
        return summary;
      });
    });
  }

  append(runId: string, events: readonly RunEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    if (++this.#appends === BUSY_STORE_APPENDS) this.#checkpointer?.start();
    return this.#call('append', () => this.#appendTx(runId, events));
  }

  async *readEvents(runId: string, options: ReadEventsOptions = {}): AsyncIterable<RunEvent> {
    if (options.types !== undefined && options.types.length === 0) return;
    const types = options.types === undefined ? undefined : JSON.stringify(options.types);
    const stmt =
      options.stepId === undefined
        ? types === undefined
          ? this.#stmt.events
          : this.#stmt.eventsOfTypes
        : types === undefined
          ? this.#stmt.eventsOfStep
          : this.#stmt.eventsOfStepAndTypes;
    let afterSeq = options.afterSeq ?? 0;
    for (;;) {
      const params: unknown[] = [runId, afterSeq];
      if (options.stepId !== undefined) params.push(options.stepId);
      if (types !== undefined) params.push(types);
      // The page is read synchronously and the cursor closed before the first yield: an open cursor
      // keeps the connection busy, and the consumer may call the store between two events.
      let page: PageRead;
      try {
        this.#assertOpen();
        page = this.#readPage(stmt, params);
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
    return this.#call('runState', () => {
      const row = this.#stmt.getRunHead.get(runId) as RunHeadRow | undefined;
      if (row === undefined) return undefined;
      const state = stateFromHead(runId, row);
      if (isInterrupted(state.status, ownerFromRow(row))) state.interrupted = true;
      // iterate() is fine here: the cursor is drained synchronously, nothing can run in between.
      for (const json of this.#stmt.stepsOfRun.iterate(runId) as IterableIterator<string>) {
        const step = JSON.parse(json) as StepState;
        state.steps[step.stepId] = step;
      }
      return state;
    });
  }

  getCache(key: string): Promise<CacheRecord | undefined> {
    return this.#call('getCache', () => {
      const row = this.#stmt.getCache.get(key) as CacheRow | undefined;
      return row === undefined ? undefined : cacheFromRow(row);
    });
  }

  putCache(record: CacheRecord): Promise<void> {
    return this.#call('putCache', () => {
      this.#stmt.putCache.run(
        record.key,
        record.scope,
        JSON.stringify(record.keyParts),
        JSON.stringify(record.outputs),
        JSON.stringify(record.artifacts),
        record.runId,
        record.stepId,
        record.createdAt,
      );
    });
  }

  previousCache(scope: string, before: number, excludeRunId?: string): Promise<CacheRecord | undefined> {
    return this.#call('previousCache', () => {
      const row = (
        excludeRunId === undefined
          ? this.#stmt.previousCache.get(scope, before)
          : this.#stmt.previousCacheExcluding.get(scope, before, excludeRunId)
      ) as CacheRow | undefined;
      return row === undefined ? undefined : cacheFromRow(row);
    });
  }

  requestCancel(runId: string, reason: string): Promise<void> {
    return this.#call('requestCancel', () => {
      // One statement: atomic across processes without a transaction, and the first reason wins.
      const result = this.#stmt.requestCancel.run(reason, runId);
      if (result.changes === 0 && this.#stmt.runExists.get(runId) === undefined) throw runNotFound(runId);
    });
  }

  cancelRequested(runId: string): Promise<string | undefined> {
    return this.#call('cancelRequested', () => {
      const reason = this.#stmt.cancelReason.get(runId) as string | null | undefined;
      return reason ?? undefined;
    });
  }

  claimRun(runId: string, owner: RunOwner): Promise<void> {
    return this.#call('claimRun', () => this.#claimTx(runId, owner));
  }

  releaseRun(runId: string, owner: RunOwner): Promise<void> {
    return this.#call('releaseRun', () => {
      this.#stmt.releaseRun.run(runId, owner.pid, owner.host);
    });
  }

  /**
   * The log text file of a generation; the store switches when the database says another one is in use
   * (garbage collection, possibly by another process, wrote a compacted copy).
   */
  #useTextGeneration(generation: number): LogTextFile {
    if (this.#texts === undefined || generation !== this.#textGeneration) {
      this.#texts?.close();
      this.#texts = new LogTextFile(textFilePath(this.path, generation));
      this.#textGeneration = generation;
    }
    return this.#texts;
  }

  /**
   * One page of events with their log text. The rows and the generation of the text file are read in one
   * transaction, so they agree. Text found missing is checked once more after it: garbage collection in
   * another process may have replaced the file between the snapshot and the read, and the page is then
   * read again from the new one; text that is really missing is shown as far as it is there, with a note.
   */
  #readPage(stmt: Statement, params: unknown[]): PageRead {
    const read = this.#db.transaction((): { page: PageRead; generation: number } => {
      if (this.path === ':memory:') return { page: readPage(stmt, params, undefined), generation: 0 };
      const generation = this.#stmt.textGeneration.get() as number;
      return { page: readPage(stmt, params, this.#useTextGeneration(generation)), generation };
    });
    for (let attempt = 0; ; attempt++) {
      const { page, generation } = read();
      if (page.missing.length === 0) return page;
      if (attempt < 3 && (this.#stmt.textGeneration.get() as number) !== generation) continue;
      for (const gap of page.missing) {
        const event = page.events[gap.index] as { text: string };
        event.text += this.#reportMissingText(gap.seq, gap.missing, gap.length);
      }
      return page;
    }
  }

  #reportMissingText(seq: number, missing: number, length: number): string {
    const file = this.#texts?.path ?? `${this.path}-text`;
    if (!this.#truncationReported) {
      // Once per store: a truncated file usually lacks the text of many events.
      this.#truncationReported = true;
      this.#onWarning?.({
        message: `The log text file ${file} is shorter than the database says: ${missing} of ${length} bytes of event ${seq} are missing (and maybe of later events). The text is shown as far as it is there.`,
        details: { file, seq, missing, length },
      });
    }
    return `\n[beamline: ${missing} of ${length} bytes of this log text are missing from ${file}]\n`;
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
    return this.#call('collectGarbage', () => this.#collectGarbage(options));
  }

  #collectGarbage(options: CollectGarbageOptions): GarbageReport {
    const candidates = (
      this.#db
        .prepare('SELECT id, status, created_at, updated_at FROM runs ORDER BY created_at DESC, rowid DESC')
        .all() as { id: string; status: RunStatus; created_at: number; updated_at: number }[]
    ).map((row) => ({
      id: row.id,
      status: row.status,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }));
    const victims = runsToCollect(candidates, options, Date.now());
    if (options.dryRun === true) {
      const size = this.#db.prepare(
        'SELECT count(*) AS n, coalesce(sum(text_length), 0) AS bytes FROM events WHERE run_id = ?',
      );
      let events = 0;
      let bytes = 0;
      for (const id of victims) {
        const row = size.get(id) as { n: number; bytes: number };
        events += row.n;
        bytes += row.bytes;
      }
      return { runs: victims, events, reclaimedBytes: bytes, dryRun: true };
    }
    const deleted = new Set(this.#pendingDeletions());
    const setPending = this.#db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('gc_deleting', ?)");
    const deleteRun = this.#db.transaction((id: string): boolean => {
      // Checked under the lock: a run resumed meanwhile is running again and stays.
      if (this.#db.prepare("DELETE FROM runs WHERE id = ? AND status <> 'running'").run(id).changes === 0)
        return false;
      this.#db.prepare('DELETE FROM run_specs WHERE run_id = ?').run(id);
      this.#db.prepare('DELETE FROM steps WHERE run_id = ?').run(id);
      // Events go in slices afterwards; until they are gone the run is listed here, so that a crash in
      // between leaves nothing behind for good.
      deleted.add(id);
      setPending.run(JSON.stringify([...deleted]));
      return true;
    });
    const runs = victims.filter((id) => deleteRun.immediate(id));
    const events = this.#deleteEventsOf(deleted);
    const reclaimedBytes = this.path === ':memory:' ? 0 : this.#compactLogText();
    this.#db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_gc', ?)").run(Date.now());
    return { runs, events, reclaimedBytes, dryRun: false };
  }

  /** Runs whose records a garbage collection deleted but whose events it may not have finished deleting. */
  #pendingDeletions(): string[] {
    const json = this.#db.prepare("SELECT value FROM meta WHERE key = 'gc_deleting'").pluck().get();
    return typeof json === 'string' ? (JSON.parse(json) as string[]) : [];
  }

  /** Deletes the events of deleted runs in slices, so that other writers never wait long. */
  #deleteEventsOf(runs: Set<string>): number {
    const slice = this.#db.prepare(
      'DELETE FROM events WHERE run_id = ? AND seq IN (SELECT seq FROM events WHERE run_id = ? ORDER BY seq LIMIT 10000)',
    );
    const setPending = this.#db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('gc_deleting', ?)");
    let deleted = 0;
    for (const id of [...runs]) {
      for (;;) {
        const removed = this.#db.transaction(() => slice.run(id, id).changes).immediate();
        deleted += removed;
        if (removed === 0) break;
      }
      runs.delete(id);
      this.#db.transaction(() => setPending.run(JSON.stringify([...runs]))).immediate();
    }
    return deleted;
  }

  /**
   * Rewrites the log text file with only the text that events still point at, when enough of it is
   * garbage; returns the bytes given back. The copy of the live text is made from a snapshot without
   * blocking writers; under the write lock the text appended since is copied too, the new file gets its
   * name, the offsets move and the generation switches, in one commit. Then the old file is deleted.
   */
  #compactLogText(): number {
    // Under the write lock, briefly: no writer is between writing its text and committing its rows, so
    // every byte below `end` is either text of a committed event or garbage, and everything written
    // after lands at or above it.
    const snapshot = this.#db
      .transaction(() => {
        const generation = this.#stmt.textGeneration.get() as number;
        const file = this.#useTextGeneration(generation);
        return { generation, file, end: file.size() };
      })
      .immediate();
    this.#removeStaleTextFiles(snapshot.generation);
    const live = this.#db
      .prepare(
        'SELECT coalesce(sum(text_length), 0) FROM events WHERE text_offset IS NOT NULL AND text_offset < ?',
      )
      .pluck()
      .get(snapshot.end) as number;
    const garbage = snapshot.end - live;
    if (garbage < COMPACT_MIN_GARBAGE || garbage < snapshot.end / 4) return 0;

    const next = snapshot.generation + 1;
    const target = textFilePath(this.path, next);
    const temporary = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const out = openSync(temporary, 'w', 0o644);
    const source = openSync(snapshot.file.path, 'r');
    let reclaimed: number | undefined;
    try {
      // Outside the lock: the text the snapshot's events point at, in offset order.
      const moves = new TextMoves();
      const ranges = this.#db
        .prepare(
          'SELECT text_offset AS offset, text_length AS length FROM events WHERE text_offset IS NOT NULL AND text_offset < ? ORDER BY text_offset',
        )
        .iterate(snapshot.end) as IterableIterator<{ offset: number; length: number }>;
      for (const range of ranges) moves.add(range.offset, range.length);
      for (const segment of moves.segments) {
        copyRange(source, out, segment.oldStart, segment.newStart, segment.length);
      }
      const switchFiles = this.#db.transaction(() => {
        // Another collection got there first: its file is the one in use, this copy is not needed.
        if ((this.#stmt.textGeneration.get() as number) !== snapshot.generation) return undefined;
        // Text appended since the snapshot lies after its end (appends go to the end of the file under
        // the lock this transaction now holds): it moves as one block.
        const tail = fstatSync(source).size - snapshot.end;
        if (tail > 0) copyRange(source, out, snapshot.end, moves.size, tail);
        commitFile(out, temporary, target);
        const rowsOf = this.#db.prepare(
          'SELECT seq, text_offset AS offset FROM events WHERE run_id = ? AND text_offset IS NOT NULL',
        );
        const move = this.#db.prepare('UPDATE events SET text_offset = ? WHERE run_id = ? AND seq = ?');
        for (const id of this.#db.prepare('SELECT id FROM runs').pluck().all() as string[]) {
          const rows = rowsOf.all(id) as { seq: number; offset: number }[];
          for (const row of rows) {
            const offset =
              row.offset >= snapshot.end ? moves.size + (row.offset - snapshot.end) : moves.map(row.offset);
            if (offset !== row.offset) move.run(offset, id, row.seq);
          }
        }
        this.#db.prepare("UPDATE meta SET value = ? WHERE key = 'text_generation'").run(next);
        return snapshot.end - moves.size;
      });
      reclaimed = switchFiles.immediate();
    } finally {
      closeSync(source);
      closeSync(out);
      if (reclaimed === undefined) rmSync(temporary, { force: true });
    }
    if (reclaimed === undefined) return 0;
    this.#useTextGeneration(next);
    this.#removeStaleTextFiles(next);
    return reclaimed;
  }

  /**
   * Deletes log text files no generation uses any more: older generations (a collection that ended after
   * its commit), and temporary copies of collections whose process is gone. Later generations are left
   * alone: one may be another process's switch in progress, and a leftover is replaced by the next one.
   */
  #removeStaleTextFiles(current: number): void {
    const folder = dirname(this.path);
    const base = `${basename(this.path)}-text`;
    for (const name of readdirSync(folder)) {
      if (!name.startsWith(base)) continue;
      const match = /^(?:\.(\d+))?(?:\.tmp-(\d+)-[0-9a-f]+)?$/.exec(name.slice(base.length));
      if (match === null) continue;
      const generation = Number(match[1] ?? 0);
      const writer = match[2] === undefined ? undefined : Number(match[2]);
      const stale = writer === undefined ? generation < current : !isLiveProcess(writer);
      if (stale) rmSync(`${folder}/${name}`, { force: true });
    }
  }

  /** Retention at open: a collection at most once a day; a failure is a warning, not a failed open. */
  #retainOnOpen(policy: RetentionPolicy): void {
    checkRetentionPolicy(policy);
    const last = this.#db.prepare("SELECT value FROM meta WHERE key = 'last_gc'").pluck().get();
    if (typeof last === 'number' && Date.now() - last < RETENTION_INTERVAL_MS) return;
    try {
      this.#collectGarbage(policy);
    } catch (error) {
      this.#onWarning?.({
        message: `Collecting old runs in ${this.path} failed: ${error instanceof Error ? error.message : String(error)}`,
        details: { path: this.path },
      });
    }
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.#checkpointer?.stop();
      this.#db.close();
      this.#texts?.close();
    }
  }

  #createInTx(run: RunRecord): void {
    if (this.#stmt.runExists.get(run.id) !== undefined) {
      throw new CoreError('CORE_STORE_FAILED', `run ${run.id} already exists`, {
        details: { runId: run.id },
      });
    }
    const state = initialRunState(run);
    this.#stmt.insertRun.run(
      run.id,
      run.pipeline,
      run.cwd,
      run.source ?? null,
      run.createdAt,
      state.updatedAt,
      state.status,
      state.lastSeq,
    );
    this.#stmt.insertRunSpec.run(
      run.id,
      run.plan === undefined ? null : JSON.stringify(run.plan),
      JSON.stringify(run.params),
    );
    let position = 0;
    for (const step of Object.values(state.steps)) {
      this.#stmt.insertStep.run(run.id, step.stepId, position++, step.status, JSON.stringify(step));
    }
  }

  #appendInTx(runId: string, events: readonly RunEvent[]): void {
    const head = this.#stmt.getRunHead.get(runId) as RunHeadRow | undefined;
    if (head === undefined) throw runNotFound(runId);
    // Validate the whole batch before writing anything, so a bad batch leaves no trace even before
    // the rollback.
    validateAppendBatch(runId, head.last_seq, events);

    // Large log text goes to the file first, so the rows that point at it commit only after it is
    // written. A failure here throws before any row is written.
    const ranges = this.#writeLargeTexts(events);

    // Only the steps this batch changes are loaded: a 100,000-step run is never read whole.
    const state = stateFromHead(runId, head);
    const touched = new Set<string>();
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const stepId = 'stepId' in event ? event.stepId : null;
      const range = ranges?.get(i);
      if (range === undefined) {
        this.#stmt.insertEvent.run(
          runId,
          event.seq,
          event.type,
          stepId,
          event.time,
          JSON.stringify(event),
          null,
          null,
        );
      } else {
        // The placeholder keeps the key where it was, so a read gives back the same object shape.
        const body = JSON.stringify({ ...event, text: '' });
        this.#stmt.insertEvent.run(
          runId,
          event.seq,
          event.type,
          stepId,
          event.time,
          body,
          range.offset,
          range.length,
        );
      }
      if (changesStepState(event) && !touched.has(event.stepId)) {
        touched.add(event.stepId);
        const json = this.#stmt.getStep.get(runId, event.stepId) as string | undefined;
        if (json !== undefined) state.steps[event.stepId] = JSON.parse(json) as StepState;
      }
      applyRunEvent(state, event);
    }
    for (const stepId of touched) {
      const step = state.steps[stepId];
      if (step !== undefined) this.#stmt.upsertStep.run(runId, stepId, step.status, JSON.stringify(step));
    }
    this.#stmt.updateRun.run(
      state.updatedAt,
      state.status,
      state.lastSeq,
      state.cancelReason ?? null,
      state.error === undefined ? null : JSON.stringify(state.error),
      runId,
    );
  }

  /** Writes the text of the batch's large log events to the log text file; undefined when there is none. */
  #writeLargeTexts(events: readonly RunEvent[]): Map<number, TextRange> | undefined {
    if (this.#texts === undefined) return undefined;
    let indexes: number[] | undefined;
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      if (event.type === 'log' && event.text.length > INLINE_TEXT_MAX) (indexes ??= []).push(i);
    }
    if (indexes === undefined) return undefined;
    const texts = indexes.map((i) => (events[i] as Extract<RunEvent, { type: 'log' }>).text);
    // Read under the write lock: garbage collection in another process may have switched files.
    const written = this.#useTextGeneration(this.#stmt.textGeneration.get() as number).append(texts);
    const ranges = new Map<number, TextRange>();
    indexes.forEach((eventIndex, i) => ranges.set(eventIndex, written[i]!));
    return ranges;
  }

  #claimInTx(runId: string, owner: RunOwner): void {
    const row = this.#stmt.getOwner.get(runId) as OwnerRow | undefined;
    if (row === undefined) throw runNotFound(runId);
    const current = ownerFromRow(row);
    if (current !== undefined && ownerBlocksClaim(current, owner, this.#host)) {
      throw new CoreError(
        'CORE_RUN_ACTIVE',
        `run ${runId} is driven by process ${current.pid} on ${current.host}`,
        {
          details: { runId, ownerPid: current.pid, ownerHost: current.host },
        },
      );
    }
    this.#stmt.setOwner.run(owner.pid, owner.host, owner.bootId ?? null, owner.startTime ?? null, runId);
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

function prepareStatements(db: Database.Database) {
  const p = (sql: string): Statement => db.prepare(sql);
  const eventsFrom = (where: string): Statement =>
    p(
      `SELECT seq, body, text_offset, text_length FROM events WHERE run_id = ? AND seq > ? ${where} ORDER BY seq LIMIT ${PAGE_ROWS}`,
    );
  return {
    insertRun: p(
      `INSERT INTO runs (id, pipeline, cwd, source, created_at, updated_at, status, last_seq)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertRunSpec: p('INSERT INTO run_specs (run_id, plan, params) VALUES (?, ?, ?)'),
    runExists: p('SELECT 1 FROM runs WHERE id = ?').pluck(),
    getRun: p(
      `SELECT id, pipeline, plan, params, cwd, source, created_at
       FROM runs JOIN run_specs ON run_specs.run_id = runs.id WHERE id = ?`,
    ),
    getRunHead: p(
      `SELECT pipeline, created_at, updated_at, status, last_seq, cancel_reason, error,
         owner_pid, owner_host, owner_boot_id, owner_start_time FROM runs WHERE id = ?`,
    ),
    updateRun: p(
      'UPDATE runs SET updated_at = ?, status = ?, last_seq = ?, cancel_reason = ?, error = ? WHERE id = ?',
    ),
    listRuns: p(
      `SELECT id, pipeline, status, created_at, updated_at, owner_pid, owner_host, owner_boot_id, owner_start_time
       FROM runs ORDER BY created_at DESC, rowid DESC LIMIT ?`,
    ),
    listRunsWithStatus: p(
      `SELECT id, pipeline, status, created_at, updated_at, owner_pid, owner_host, owner_boot_id, owner_start_time
       FROM runs WHERE status = ? ORDER BY created_at DESC, rowid DESC LIMIT ?`,
    ),
    countSteps: p('SELECT status, count(*) AS n FROM steps WHERE run_id = ? GROUP BY status'),
    insertEvent: p(
      `INSERT INTO events (run_id, seq, type, step_id, time, body, text_offset, text_length)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    events: eventsFrom(''),
    eventsOfTypes: eventsFrom('AND type IN (SELECT value FROM json_each(?))'),
    eventsOfStep: eventsFrom('AND step_id = ?'),
    eventsOfStepAndTypes: eventsFrom('AND step_id = ? AND type IN (SELECT value FROM json_each(?))'),
    getStep: p('SELECT state FROM steps WHERE run_id = ? AND step_id = ?').pluck(),
    // Plan order first, then the steps outside the plan.
    stepsOfRun: p(
      'SELECT state FROM steps WHERE run_id = ? ORDER BY position IS NULL, position, step_id',
    ).pluck(),
    insertStep: p('INSERT INTO steps (run_id, step_id, position, status, state) VALUES (?, ?, ?, ?, ?)'),
    upsertStep: p(
      `INSERT INTO steps (run_id, step_id, status, state) VALUES (?, ?, ?, ?)
       ON CONFLICT (run_id, step_id) DO UPDATE SET status = excluded.status, state = excluded.state`,
    ),
    getCache: p('SELECT * FROM cache WHERE key = ?'),
    putCache: p(
      `INSERT OR REPLACE INTO cache (key, scope, key_parts, outputs, artifacts, run_id, step_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    previousCache: p(
      'SELECT * FROM cache WHERE scope = ? AND created_at < ? ORDER BY created_at DESC, rowid DESC LIMIT 1',
    ),
    previousCacheExcluding: p(
      'SELECT * FROM cache WHERE scope = ? AND created_at < ? AND run_id <> ? ORDER BY created_at DESC, rowid DESC LIMIT 1',
    ),
    requestCancel: p('UPDATE runs SET cancel_reason = ? WHERE id = ? AND cancel_reason IS NULL'),
    cancelReason: p('SELECT cancel_reason FROM runs WHERE id = ?').pluck(),
    getOwner: p('SELECT owner_pid, owner_host, owner_boot_id, owner_start_time FROM runs WHERE id = ?'),
    setOwner: p(
      'UPDATE runs SET owner_pid = ?, owner_host = ?, owner_boot_id = ?, owner_start_time = ? WHERE id = ?',
    ),
    textGeneration: p("SELECT value FROM meta WHERE key = 'text_generation'").pluck(),
    releaseRun: p(
      `UPDATE runs SET owner_pid = NULL, owner_host = NULL, owner_boot_id = NULL, owner_start_time = NULL
       WHERE id = ? AND owner_pid = ? AND owner_host = ?`,
    ),
  };
}

/** `<db>-text` for generation 0, `<db>-text.<n>` after garbage collection compacted it n times. */
export function textFilePath(databasePath: string, generation: number): string {
  return generation === 0 ? `${databasePath}-text` : `${databasePath}-text.${generation}`;
}

function openDatabase(path: string, options: Database.Options = {}): Database.Database {
  const db = new Database(path, options);
  try {
    // busy_timeout first: switching to WAL and migrating may wait for another process.
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // Keeps the WAL file from staying at its high-water mark after a checkpoint.
    db.pragma('journal_size_limit = 67108864');
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * Creates the store at `path` if there is none: complete (schema migrated) under a temporary name, then
 * linked into place. A link never replaces a file, so when two processes create the store at once one
 * link wins and the other process opens the winner's store.
 */
function createIfMissing(path: string): void {
  try {
    statSync(path);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const temporary = `${path}.new-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const db = openDatabase(temporary);
    try {
      migrate(db);
    } finally {
      // The last connection to close folds the WAL into the file and removes it.
      db.close();
    }
    try {
      linkSync(temporary, path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return;
      // A file system without hard links: a rename, which could replace a store created meanwhile, so
      // only while there still is none (a narrow race, on such file systems only).
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw error;
      if (!existsSync(path)) renameSync(temporary, path);
    }
  } finally {
    for (const file of [temporary, `${temporary}-wal`, `${temporary}-shm`]) {
      try {
        unlinkSync(file);
      } catch {
        // Not there.
      }
    }
  }
}

/** An existing file must already be a Beamline store: anything else is reported, not initialised. */
function checkIsStore(db: Database.Database, path: string): void {
  if (db.pragma('user_version', { simple: true }) !== 0) return;
  const tables = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table'").pluck().get();
  const what =
    tables === 0 ? 'is an empty SQLite database' : 'is a SQLite database without a Beamline schema';
  throw notAStore(path, what, statSync(path).size);
}

function notAStore(path: string, what: string, size: number): CoreError {
  return new CoreError(
    'CORE_STORE_FAILED',
    `${path} ${what}, not a Beamline store: it may have been truncated or replaced. Move it away to start a new store (and restore it from a copy if it held runs).`,
    { details: { path, size } },
  );
}

function migrate(db: Database.Database): void {
  const version = (): number => db.pragma('user_version', { simple: true }) as number;
  // The common case (already current) takes no write lock.
  if (version() === SCHEMA_VERSION) return;
  db.transaction(() => {
    // Re-read under the lock: another process may have migrated meanwhile.
    const from = version();
    if (from > SCHEMA_VERSION) {
      throw new CoreError(
        'CORE_STORE_FAILED',
        `database schema version ${from} is newer than this Beamline supports (${SCHEMA_VERSION}); upgrade Beamline`,
        { details: { schemaVersion: from, supported: SCHEMA_VERSION } },
      );
    }
    for (let v = from; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v] ?? '');
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

/** Events read in one page, and the log text found missing from the file (index into `events`). */
interface PageRead {
  events: RunEvent[];
  lastSeq: number;
  done: boolean;
  missing: { index: number; seq: number; missing: number; length: number }[];
}

function readPage(stmt: Statement, params: unknown[], texts: LogTextFile | undefined): PageRead {
  const events: RunEvent[] = [];
  const gaps: PageRead['missing'] = [];
  let lastSeq = 0;
  let chars = 0;
  for (const row of stmt.iterate(...params) as IterableIterator<EventRow>) {
    const event = JSON.parse(row.body) as RunEvent;
    if (row.text_offset !== null && row.text_length !== null) {
      if (texts === undefined) throw new Error(`event ${row.seq} refers to a log text file`);
      const { text, missing } = texts.read({ offset: row.text_offset, length: row.text_length });
      (event as { text: string }).text = text;
      if (missing > 0) gaps.push({ index: events.length, seq: row.seq, missing, length: row.text_length });
      chars += row.text_length;
    }
    events.push(event);
    lastSeq = row.seq;
    chars += row.body.length;
    // Leaving the loop early resets the statement, which closes the cursor.
    if (chars >= PAGE_CHARS) return { events, lastSeq, done: false, missing: gaps };
  }
  return { events, lastSeq, done: events.length < PAGE_ROWS, missing: gaps };
}

function stateFromHead(runId: string, head: RunHeadRow): RunState {
  const state: RunState = {
    id: runId,
    pipeline: head.pipeline,
    status: head.status,
    createdAt: head.created_at,
    updatedAt: head.updated_at,
    lastSeq: head.last_seq,
    steps: {},
  };
  if (head.error !== null) state.error = JSON.parse(head.error) as ErrorInfo;
  if (head.cancel_reason !== null) state.cancelReason = head.cancel_reason;
  return state;
}

function ownerFromRow(row: OwnerRow): RunOwner | undefined {
  if (row.owner_pid === null || row.owner_host === null) return undefined;
  const owner: RunOwner = { pid: row.owner_pid, host: row.owner_host };
  if (row.owner_boot_id !== null) owner.bootId = row.owner_boot_id;
  if (row.owner_start_time !== null) owner.startTime = row.owner_start_time;
  return owner;
}

function cacheFromRow(row: CacheRow): CacheRecord {
  return {
    key: row.key,
    keyParts: JSON.parse(row.key_parts) as CacheKeyParts,
    scope: row.scope,
    outputs: JSON.parse(row.outputs) as StepOutputs,
    artifacts: JSON.parse(row.artifacts) as Artifact[],
    runId: row.run_id,
    stepId: row.step_id,
    createdAt: row.created_at,
  };
}

function runNotFound(runId: string): CoreError {
  return new CoreError('CORE_RUN_NOT_FOUND', `run ${runId} not found`, { details: { runId } });
}

/** Wraps a database failure in a CoreError; busy/locked databases are worth retrying. */
function storeError(operation: string, error: unknown): Error {
  if (isCoreError(error)) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const sqliteCode = typeof code === 'string' ? code : undefined;
  const retryable = sqliteCode !== undefined && /^SQLITE_(BUSY|LOCKED)/.test(sqliteCode);
  const message = error instanceof Error ? error.message : String(error);
  return new CoreError('CORE_STORE_FAILED', `store ${operation} failed: ${message}`, {
    cause: error,
    retryable,
    details: sqliteCode === undefined ? { operation } : { operation, sqliteCode },
  });
}
