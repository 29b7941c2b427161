import { statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { CoreError } from '../../errors/core-error.js';

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
  `
  -- A plan's steps, one row each, when run_specs.steps_in_rows is 1 (run_specs.plan then holds the plan
  -- with an empty step list): a 100,000-step plan as one JSON text is tens of megabytes, held as a
  -- string and again as its UTF-8 copy while it is written or read.
  CREATE TABLE plan_steps (
    run_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    spec TEXT NOT NULL,
    PRIMARY KEY (run_id, position)
  ) WITHOUT ROWID;
  ALTER TABLE run_specs ADD COLUMN steps_in_rows INTEGER;
  `,
];

/** The schema version this code writes (`PRAGMA user_version`). */
const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the schema up to date (`PRAGMA user_version`), under the write lock.
 * @throws CoreError `CORE_STORE_FAILED` when the database was written by a newer schema version.
 */
export function migrate(db: Database.Database): void {
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

/**
 * An existing file must already be a Beamline store: anything else is reported, not initialised.
 * @throws CoreError `CORE_STORE_FAILED` for an empty SQLite database or one without Beamline's schema.
 */
export function checkIsStore(db: Database.Database, path: string): void {
  if (db.pragma('user_version', { simple: true }) !== 0) return;
  const tables = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table'").pluck().get();
  const what =
    tables === 0 ? 'is an empty SQLite database' : 'is a SQLite database without a Beamline schema';
  throw notAStore(path, what, statSync(path).size);
}

/** The error for a file at a store's path that is not a whole store (`what` it is instead). */
export function notAStore(path: string, what: string, size: number): CoreError {
  return new CoreError(
    'CORE_STORE_FAILED',
    `${path} ${what}, not a Beamline store: it may have been truncated or replaced. Move it away to start a new store (and restore it from a copy if it held runs).`,
    { details: { path, size } },
  );
}
