import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { checkIsStore, migrate, notAStore } from './schema.js';

/** How long a write waits for another process's write to finish before failing (retryable). */
const BUSY_TIMEOUT_MS = 10_000;

/**
 * Opens the database of a store at `path` (`:memory:`: a private in-memory one) with its schema up to
 * date, creating the store first when there is none. A file already at `path` must be a whole store: an
 * empty (0-byte) file, or a SQLite database without Beamline's schema, is reported, never taken for a new
 * store.
 * @throws CoreError `CORE_STORE_FAILED` for such a file or a newer schema version; the file system's or
 * SQLite's error when the file cannot be created or opened.
 */
export function openStoreDatabase(path: string): Database.Database {
  if (path === ':memory:') return settingUp(openDatabase(path), migrate);
  mkdirSync(dirname(path), { recursive: true });
  createStoreFile(path);
  // Before opening: switching an empty file to WAL would write a header into it.
  if (statSync(path).size === 0) throw notAStore(path, 'is empty (0 bytes)', 0);
  return settingUp(openDatabase(path, { fileMustExist: true }), (db) => {
    checkIsStore(db, path);
    migrate(db);
  });
}

/** A connection with the store's settings: WAL, `synchronous=NORMAL`, a busy timeout, a 2 MiB page cache. */
function openDatabase(path: string, options: Database.Options = {}): Database.Database {
  return settingUp(new Database(path, options), (db) => {
    // busy_timeout first: switching to WAL and migrating may wait for another process.
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // Keeps the WAL file from staying at its high-water mark after a checkpoint.
    db.pragma('journal_size_limit = 67108864');
    // SQLite's own default page cache (2 MiB): better-sqlite3 builds SQLite with 16 MiB, which a run's first
    // transaction fills (a 100,000-step plan's rows) and keeps for good. Measured: no slower per step, and
    // 20-25 MB less peak memory for a 100,000-step run.
    db.pragma('cache_size = -2000');
  });
}

/** `db` once `setUp` ran on it; closed (nothing left open) when `setUp` throws. */
function settingUp(db: Database.Database, setUp: (db: Database.Database) => void): Database.Database {
  try {
    setUp(db);
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
function createStoreFile(path: string): void {
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
