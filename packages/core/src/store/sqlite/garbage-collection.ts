import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, rmSync } from 'node:fs';
import type Database from 'better-sqlite3';
import type {
  CollectGarbageOptions,
  GarbageReport,
  RetentionPolicy,
  RunStatus,
} from '../../contracts/store.js';
import { checkRetentionPolicy, runsToCollect, type RetentionCandidate } from '../retention.js';
import { commitFile, copyRange, TextMoves } from './compact-log-text.js';
import type { LogTextFile } from './log-text-file.js';
import { textFilePath, type LogTexts } from './log-texts.js';
import type { StoreDatabase } from './store-database.js';

/** A log text file is rewritten only to give back at least this much (and a quarter of it). */
const COMPACT_MIN_GARBAGE = 64 * 1024;

/** Retention at open runs at most this often. */
const RETENTION_INTERVAL_MS = 24 * 60 * 60 * 1000;

/** Events deleted per transaction, so that other writers never wait long. */
const EVENT_SLICE = 10_000;

/**
 * Deletes old finished runs (record, state, events; see {@link RetentionPolicy}) and gives the space of
 * their log text back (see {@link LogTextCompaction}). Runs are deleted one transaction each, rows first;
 * their events go afterwards in slices, with the runs still pending listed in a `meta` row, so that a
 * crash in between is finished by the next collection.
 */
export function collectGarbage(database: StoreDatabase, options: CollectGarbageOptions): GarbageReport {
  const { db } = database;
  const victims = runsToCollect(retentionCandidates(db), options, Date.now());
  if (options.dryRun === true) return dryRunReport(db, victims);
  const deleted = new Set(pendingDeletions(db));
  const runs = deleteRunRecords(db, victims, deleted);
  const events = deleteEventsOf(db, deleted);
  const reclaimedBytes =
    database.texts === undefined ? 0 : new LogTextCompaction(database, database.texts).run();
  db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_gc', ?)").run(Date.now());
  return { runs, events, reclaimedBytes, dryRun: false };
}

/**
 * Retention when a store opens: a collection by `policy` at most once a day; a failure is a warning, not
 * a failed open.
 * @throws CoreError `CORE_PARAMS_INVALID` for a policy with a limit that is not a number ≥ 0.
 */
export function collectOnOpen(database: StoreDatabase, policy: RetentionPolicy): void {
  checkRetentionPolicy(policy);
  const last = database.db.prepare("SELECT value FROM meta WHERE key = 'last_gc'").pluck().get();
  if (typeof last === 'number' && Date.now() - last < RETENTION_INTERVAL_MS) return;
  try {
    collectGarbage(database, policy);
  } catch (error) {
    database.warn({
      message: `Collecting old runs in ${database.path} failed: ${error instanceof Error ? error.message : String(error)}`,
      details: { path: database.path },
    });
  }
}

/** Every run, newest first, as the retention rule sees it. */
function retentionCandidates(db: Database.Database): RetentionCandidate[] {
  const rows = db
    .prepare('SELECT id, status, created_at, updated_at FROM runs ORDER BY created_at DESC, rowid DESC')
    .all() as { id: string; status: RunStatus; created_at: number; updated_at: number }[];
  return rows.map((row) => ({
    id: row.id,
    status: row.status,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }));
}

/** What collecting `victims` would delete and give back, changing nothing. */
function dryRunReport(db: Database.Database, victims: string[]): GarbageReport {
  const size = db.prepare(
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

/** Runs whose records a garbage collection deleted but whose events it may not have finished deleting. */
function pendingDeletions(db: Database.Database): string[] {
  const json = db.prepare("SELECT value FROM meta WHERE key = 'gc_deleting'").pluck().get();
  return typeof json === 'string' ? (JSON.parse(json) as string[]) : [];
}

function setPendingDeletions(db: Database.Database, runs: Set<string>): void {
  db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('gc_deleting', ?)").run(
    JSON.stringify([...runs]),
  );
}

/**
 * Deletes the runs' records, state and steps, one transaction each, adding each to `pending` (their
 * events go afterwards); returns the runs deleted. A run resumed meanwhile is running again and stays.
 */
function deleteRunRecords(db: Database.Database, victims: string[], pending: Set<string>): string[] {
  const deleteRun = db.transaction((id: string): boolean => {
    // Checked under the lock: a run resumed meanwhile is running again and stays.
    if (db.prepare("DELETE FROM runs WHERE id = ? AND status <> 'running'").run(id).changes === 0)
      return false;
    db.prepare('DELETE FROM run_specs WHERE run_id = ?').run(id);
    db.prepare('DELETE FROM steps WHERE run_id = ?').run(id);
    // Events go in slices afterwards; until they are gone the run is listed here, so that a crash in
    // between leaves nothing behind for good.
    pending.add(id);
    setPendingDeletions(db, pending);
    return true;
  });
  return victims.filter((id) => deleteRun.immediate(id));
}

/** Deletes the events of deleted runs in slices, so that other writers never wait long. */
function deleteEventsOf(db: Database.Database, runs: Set<string>): number {
  const slice = db.prepare(
    `DELETE FROM events WHERE run_id = ? AND seq IN (SELECT seq FROM events WHERE run_id = ? ORDER BY seq LIMIT ${EVENT_SLICE})`,
  );
  let deleted = 0;
  for (const id of [...runs]) {
    for (;;) {
      const removed = db.transaction(() => slice.run(id, id).changes).immediate();
      deleted += removed;
      if (removed === 0) break;
    }
    runs.delete(id);
    db.transaction(() => setPendingDeletions(db, runs)).immediate();
  }
  return deleted;
}

/** The log text file in use, and its size, at one moment under the write lock. */
interface TextSnapshot {
  generation: number;
  file: LogTextFile;
  end: number;
}

/**
 * Rewrites the log text file with only the text that events still point at, when enough of it is
 * garbage. The copy of the live text is made from a snapshot without blocking writers; under the write
 * lock the text appended since is copied too, the new file gets its name, the offsets move and the
 * generation switches, in one commit. Then the old file is deleted. A crash (`kill -9`) at any moment
 * leaves either the old file and rows or the new ones, never a mix; the next collection removes what a
 * killed one left.
 */
class LogTextCompaction {
  readonly #db: Database.Database;

  constructor(
    private readonly database: StoreDatabase,
    private readonly texts: LogTexts,
  ) {
    this.#db = database.db;
  }

  /** Compacts when worth it; returns the bytes given back. */
  run(): number {
    const snapshot = this.#snapshot();
    this.texts.removeStale(snapshot.generation);
    if (!this.#worthCompacting(snapshot.end)) return 0;
    const next = snapshot.generation + 1;
    const reclaimed = this.#writeNextGeneration(snapshot, next);
    if (reclaimed === undefined) return 0;
    this.texts.use(next);
    this.texts.removeStale(next);
    return reclaimed;
  }

  /**
   * Under the write lock, briefly: no writer is between writing its text and committing its rows, so
   * every byte below `end` is either text of a committed event or garbage, and everything written after
   * lands at or above it.
   */
  #snapshot(): TextSnapshot {
    return this.#db
      .transaction(() => {
        const { generation, file } = this.texts.current();
        return { generation, file, end: file.size() };
      })
      .immediate();
  }

  /** At least a quarter of the file below `end` (and 64 KiB) is text no event points at. */
  #worthCompacting(end: number): boolean {
    const live = this.#db
      .prepare(
        'SELECT coalesce(sum(text_length), 0) FROM events WHERE text_offset IS NOT NULL AND text_offset < ?',
      )
      .pluck()
      .get(end) as number;
    const garbage = end - live;
    return garbage >= COMPACT_MIN_GARBAGE && garbage >= end / 4;
  }

  /**
   * Writes generation `next` under a temporary name and switches to it; returns the bytes given back, or
   * undefined when another collection switched first (the copy is then deleted).
   */
  #writeNextGeneration(snapshot: TextSnapshot, next: number): number | undefined {
    const target = textFilePath(this.database.path, next);
    const temporary = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const out = openSync(temporary, 'w', 0o644);
    const source = openSync(snapshot.file.path, 'r');
    let reclaimed: number | undefined;
    try {
      const moves = this.#copyLiveText(source, out, snapshot.end);
      reclaimed = this.#db
        .transaction(() => this.#switchFiles({ snapshot, next, source, out, temporary, target, moves }))
        .immediate();
    } finally {
      closeSync(source);
      closeSync(out);
      if (reclaimed === undefined) rmSync(temporary, { force: true });
    }
    return reclaimed;
  }

  /** Outside the lock: the text the snapshot's events point at, in offset order, back to back. */
  #copyLiveText(source: number, out: number, end: number): TextMoves {
    const moves = new TextMoves();
    const ranges = this.#db
      .prepare(
        'SELECT text_offset AS offset, text_length AS length FROM events WHERE text_offset IS NOT NULL AND text_offset < ? ORDER BY text_offset',
      )
      .iterate(end) as IterableIterator<{ offset: number; length: number }>;
    for (const range of ranges) moves.add(range.offset, range.length);
    for (const segment of moves.segments) {
      copyRange(source, out, segment.oldStart, segment.newStart, segment.length);
    }
    return moves;
  }

  /**
   * Under the write lock: copies the text appended since the snapshot, gives the new file its name, moves
   * every event's offset and switches the generation, all in this one commit.
   */
  #switchFiles(copy: {
    snapshot: TextSnapshot;
    next: number;
    source: number;
    out: number;
    temporary: string;
    target: string;
    moves: TextMoves;
  }): number | undefined {
    const { snapshot, moves } = copy;
    // Another collection got there first: its file is the one in use, this copy is not needed.
    if (this.texts.switchedSince(snapshot.generation)) return undefined;
    // Text appended since the snapshot lies after its end (appends go to the end of the file under
    // the lock this transaction now holds): it moves as one block.
    const tail = fstatSync(copy.source).size - snapshot.end;
    if (tail > 0) copyRange(copy.source, copy.out, snapshot.end, moves.size, tail);
    commitFile(copy.out, copy.temporary, copy.target);
    this.#moveOffsets(moves, snapshot.end);
    this.#db.prepare("UPDATE meta SET value = ? WHERE key = 'text_generation'").run(copy.next);
    return snapshot.end - moves.size;
  }

  /** Points every event with text in the file at where its text is in the new one. */
  #moveOffsets(moves: TextMoves, end: number): void {
    const rowsOf = this.#db.prepare(
      'SELECT seq, text_offset AS offset FROM events WHERE run_id = ? AND text_offset IS NOT NULL',
    );
    const move = this.#db.prepare('UPDATE events SET text_offset = ? WHERE run_id = ? AND seq = ?');
    for (const id of this.#db.prepare('SELECT id FROM runs').pluck().all() as string[]) {
      const rows = rowsOf.all(id) as { seq: number; offset: number }[];
      for (const row of rows) {
        const offset = row.offset >= end ? moves.size + (row.offset - end) : moves.map(row.offset);
        if (offset !== row.offset) move.run(offset, id, row.seq);
      }
    }
  }
}
