import type Database from 'better-sqlite3';
import type {
  CollectGarbageOptions,
  GarbageReport,
  RetentionPolicy,
  RunStatus,
} from '../../contracts/store.js';
import { checkRetentionPolicy, runsToCollect, type RetentionCandidate } from '../retention.js';
import { compactLogText } from './compact-log-text.js';
import type { StoreDatabase } from './store-database.js';

/** Retention at open runs at most this often. */
const RETENTION_INTERVAL_MS = 24 * 60 * 60 * 1000;

/** Events deleted per transaction, so that other writers never wait long. */
const EVENT_SLICE = 10_000;

/**
 * Deletes old finished runs (record, state, events; see {@link RetentionPolicy}) and gives the space of
 * their log text back (see {@link compactLogText}). Runs are deleted one transaction each, rows first;
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
  const reclaimedBytes = database.texts === undefined ? 0 : compactLogText(database, database.texts);
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
    db.prepare('DELETE FROM plan_steps WHERE run_id = ?').run(id);
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
