import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/** A lock as stored. */
export interface LockRecord {
  readonly token: string;
  readonly share: string;
  /** Path inside the share, `''` for its root, `a/b` below. */
  readonly path: string;
  /** 0 or -1 (infinity). */
  readonly depth: 0 | -1;
  readonly scope: 'exclusive' | 'shared';
  /** The request's `<D:owner>` element, serialized, or undefined. */
  readonly owner: string | undefined;
  /** Name of who took it (undefined for nobody known). */
  readonly principal: string | undefined;
  readonly timeoutMs: number;
  readonly expiresAt: number;
}

/** A lock row as SQLite returns it. */
interface LockRow {
  token: string;
  share: string;
  path: string;
  depth: number;
  scope: string;
  owner: string | null;
  principal: string | null;
  timeout_ms: number;
  expires_at: number;
}

/** A dead property as stored: its `{ns}local` key and its element serialized as XML. */
export interface PropertyRecord {
  readonly path: string;
  readonly key: string;
  readonly xml: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS locks (
  token TEXT PRIMARY KEY,
  share TEXT NOT NULL,
  path TEXT NOT NULL,
  depth INTEGER NOT NULL,
  scope TEXT NOT NULL,
  owner TEXT,
  principal TEXT,
  timeout_ms INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS props (
  share TEXT NOT NULL,
  path TEXT NOT NULL,
  parent TEXT NOT NULL,
  key TEXT NOT NULL,
  xml TEXT NOT NULL,
  PRIMARY KEY (share, path, key)
);
CREATE INDEX IF NOT EXISTS props_parent ON props (share, parent);
CREATE TABLE IF NOT EXISTS uploads (
  temp TEXT PRIMARY KEY,
  started_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('locks', 0);
INSERT OR IGNORE INTO meta (key, value) VALUES ('nonce_floor', 0);
CREATE TABLE IF NOT EXISTS nonces (
  nonce TEXT PRIMARY KEY,
  issued INTEGER NOT NULL,
  last_count INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS nonces_issued ON nonces (issued);
CREATE TABLE IF NOT EXISTS secrets (
  name TEXT PRIMARY KEY,
  value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS login_failures (
  address TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_address ON login_failures (address, at);
CREATE TABLE IF NOT EXISTS login_blocks (
  address TEXT PRIMARY KEY,
  until INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS usage (
  share TEXT PRIMARY KEY,
  bytes INTEGER NOT NULL,
  walked_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reservations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  share TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  pid INTEGER NOT NULL
);
`;

/** Parent of a share-relative path (`a/b` → `a`, `a` → `''`). */
function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash);
}

/** `from/x/y` → `to/x/y` (either may be `''`, the share's root). */
function rebase(path: string, from: string, to: string): string {
  const rest = from === '' ? path : path.slice(from.length + 1);
  if (rest === '' || path === from) return to;
  return to === '' ? rest : `${to}/${rest}`;
}

/** Bounds of the paths strictly below `path`, for range queries (`'/'` + 1 is `'0'`). */
function below(path: string): [string, string] {
  return path === '' ? ['', '\uffff'] : [`${path}/`, `${path}0`];
}

/**
 * The server's durable state in one SQLite file (`<stateDir>/webdav.db`, WAL): locks (so they survive a
 * restart), dead properties (so they survive a restart, COPY and MOVE), and the temporary files of
 * uploads in progress (so a crash's leftovers are removed at the next start).
 */
export class StateDb {
  private readonly db: Database.Database;
  private readonly statements;

  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true });
    this.db = new Database(join(stateDir, 'webdav.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    // State files from before the multi-process mode: uploads did not record their process.
    const columns = this.db.pragma('table_info(uploads)') as { name: string }[];
    if (!columns.some((column) => column.name === 'pid'))
      this.db.exec('ALTER TABLE uploads ADD COLUMN pid INTEGER');
    const db = this.db;
    this.statements = {
      allLocks: db.prepare('SELECT * FROM locks'),
      putLock: db.prepare(
        'INSERT OR REPLACE INTO locks (token, share, path, depth, scope, owner, principal, timeout_ms, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      deleteLock: db.prepare('DELETE FROM locks WHERE token = ?'),
      propsOf: db.prepare('SELECT path, key, xml FROM props WHERE share = ? AND path = ?'),
      propsOfChildren: db.prepare('SELECT path, key, xml FROM props WHERE share = ? AND parent = ?'),
      propsBelow: db.prepare(
        'SELECT path, key, xml FROM props WHERE share = ? AND (path = ? OR (path >= ? AND path < ?))',
      ),
      putProp: db.prepare(
        'INSERT OR REPLACE INTO props (share, path, parent, key, xml) VALUES (?, ?, ?, ?, ?)',
      ),
      deleteProp: db.prepare('DELETE FROM props WHERE share = ? AND path = ? AND key = ?'),
      deletePropsBelow: db.prepare(
        'DELETE FROM props WHERE share = ? AND (path = ? OR (path >= ? AND path < ?))',
      ),
      addUpload: db.prepare('INSERT OR REPLACE INTO uploads (temp, started_at, pid) VALUES (?, ?, ?)'),
      removeUpload: db.prepare('DELETE FROM uploads WHERE temp = ?'),
      allUploads: db.prepare('SELECT temp FROM uploads'),
      uploadsOf: db.prepare('SELECT temp FROM uploads WHERE pid = ?'),
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
      locksVersion: db.prepare("SELECT value FROM meta WHERE key = 'locks'").pluck(),
      bumpLocksVersion: db
        .prepare("UPDATE meta SET value = value + 1 WHERE key = 'locks' RETURNING value")
        .pluck(),
      addSecret: db.prepare('INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)'),
      secret: db.prepare('SELECT value FROM secrets WHERE name = ?').pluck(),
      useNonce: db.prepare(
        'INSERT INTO nonces (nonce, issued, last_count) VALUES (?, ?, ?) ON CONFLICT (nonce) DO UPDATE SET last_count = excluded.last_count WHERE last_count < excluded.last_count',
      ),
      pruneNonces: db.prepare('DELETE FROM nonces WHERE issued <= ?'),
      countNonces: db.prepare('SELECT count(*) FROM nonces').pluck(),
      nthOldestNonce: db.prepare('SELECT issued FROM nonces ORDER BY issued LIMIT 1 OFFSET ?').pluck(),
      nonceFloor: db.prepare("SELECT value FROM meta WHERE key = 'nonce_floor'").pluck(),
      raiseNonceFloor: db.prepare("UPDATE meta SET value = max(value, ?) WHERE key = 'nonce_floor'"),
      trimNonces: db.prepare(
        'DELETE FROM nonces WHERE nonce IN (SELECT nonce FROM nonces ORDER BY issued LIMIT ?)',
      ),
      blockedUntil: db.prepare('SELECT until FROM login_blocks WHERE address = ?').pluck(),
      addFailure: db.prepare('INSERT INTO login_failures (address, at) VALUES (?, ?)'),
      dropFailures: db.prepare('DELETE FROM login_failures WHERE address = ? AND (at <= ? OR ? = 1)'),
      countFailures: db.prepare('SELECT count(*) FROM login_failures WHERE address = ?').pluck(),
      block: db.prepare('INSERT OR REPLACE INTO login_blocks (address, until) VALUES (?, ?)'),
      pruneFailures: db.prepare('DELETE FROM login_failures WHERE at <= ?'),
      capFailures: db.prepare(
        'DELETE FROM login_failures WHERE rowid <= (SELECT max(rowid) FROM login_failures) - ?',
      ),
      pruneBlocks: db.prepare('DELETE FROM login_blocks WHERE until <= ?'),
      usage: db.prepare('SELECT bytes, walked_at AS walkedAt FROM usage WHERE share = ?'),
      setUsage: db.prepare('INSERT OR REPLACE INTO usage (share, bytes, walked_at) VALUES (?, ?, ?)'),
      adjustUsage: db.prepare('UPDATE usage SET bytes = max(0, bytes + ?) WHERE share = ?'),
      forgetUsage: db.prepare('DELETE FROM usage WHERE share = ?'),
      reserved: db.prepare('SELECT coalesce(sum(bytes), 0) FROM reservations WHERE share = ?').pluck(),
      reserve: db
        .prepare('INSERT INTO reservations (share, bytes, pid) VALUES (?, ?, ?) RETURNING id')
        .pluck(),
      growReservation: db.prepare('UPDATE reservations SET bytes = bytes + ? WHERE id = ?'),
      release: db.prepare('DELETE FROM reservations WHERE id = ?'),
      releaseOf: db.prepare('DELETE FROM reservations WHERE pid = ?'),
      releaseAll: db.prepare('DELETE FROM reservations'),
    };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** A random 32-byte secret made once for the state file and the same for every process using it. */
  secret(name: string): Buffer {
    this.statements.addSecret.run(name, randomBytes(32));
    return this.statements.secret.get(name) as Buffer;
  }

  /**
   * Runs `fn` in a write transaction (`BEGIN IMMEDIATE`: it holds the database's write lock from its
   * start, so a read-modify-write in it cannot interleave with another process's; `busy_timeout`
   * waits for the lock). Nested calls join the outer transaction.
   */
  write<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    return this.db.transaction(fn).immediate();
  }

  /** Changes whenever another connection (another process) committed to the database. */
  dataVersion(): number {
    return Number(this.statements.dataVersion.get());
  }

  // Locks

  /** Generation of the locks table, bumped by every change (see {@link bumpLocksVersion}). */
  locksVersion(): number {
    return Number(this.statements.locksVersion.get());
  }

  /** Marks a change of the locks (call inside {@link write}); returns the new generation. */
  bumpLocksVersion(): number {
    return Number(this.statements.bumpLocksVersion.get());
  }

  loadLocks(): LockRecord[] {
    return (this.statements.allLocks.all() as LockRow[]).map((row) => ({
      token: row.token,
      share: row.share,
      path: row.path,
      depth: row.depth === 0 ? 0 : -1,
      scope: row.scope === 'shared' ? 'shared' : 'exclusive',
      owner: row.owner ?? undefined,
      principal: row.principal ?? undefined,
      timeoutMs: Number(row.timeout_ms),
      expiresAt: Number(row.expires_at),
    }));
  }

  saveLock(lock: LockRecord): void {
    this.statements.putLock.run(
      lock.token,
      lock.share,
      lock.path,
      lock.depth,
      lock.scope,
      lock.owner ?? null,
      lock.principal ?? null,
      lock.timeoutMs,
      lock.expiresAt,
    );
  }

  deleteLocks(tokens: readonly string[]): void {
    if (tokens.length === 0) return;
    this.db.transaction(() => {
      for (const token of tokens) this.statements.deleteLock.run(token);
    })();
  }

  // Dead properties

  properties(share: string, path: string): PropertyRecord[] {
    return this.statements.propsOf.all(share, path) as PropertyRecord[];
  }

  /** Dead properties of the direct children of a collection. */
  childProperties(share: string, path: string): PropertyRecord[] {
    return this.statements.propsOfChildren.all(share, path) as PropertyRecord[];
  }

  /** Applies a PROPPATCH's changes in one transaction. */
  patchProperties(
    share: string,
    path: string,
    set: ReadonlyMap<string, string>,
    remove: Iterable<string>,
  ): void {
    this.db.transaction(() => {
      for (const key of remove) this.statements.deleteProp.run(share, path, key);
      for (const [key, xml] of set) this.statements.putProp.run(share, path, parentOf(path), key, xml);
    })();
  }

  /** Forgets the properties of a resource and everything below it (DELETE, overwrite). */
  deleteTree(share: string, path: string): void {
    const [low, high] = below(path);
    this.statements.deletePropsBelow.run(share, path, low, high);
  }

  /** Copies (or moves) the properties of a tree to another place, replacing what the destination had. */
  copyTree(
    fromShare: string,
    from: string,
    toShare: string,
    to: string,
    move: boolean,
    shallow = false,
  ): void {
    const [low, high] = below(from);
    this.db.transaction(() => {
      const rows = (
        shallow
          ? this.statements.propsOf.all(fromShare, from)
          : this.statements.propsBelow.all(fromShare, from, low, high)
      ) as PropertyRecord[];
      this.deleteTree(toShare, to);
      if (move) this.deleteTree(fromShare, from);
      for (const row of rows) {
        const path = rebase(row.path, from, to);
        this.statements.putProp.run(toShare, path, parentOf(path), row.key, row.xml);
      }
    })();
  }

  // Uploads in progress

  addUpload(temp: string): void {
    this.statements.addUpload.run(temp, Date.now(), process.pid);
  }

  /** Temporary files of the uploads a process had in progress (a worker that died). */
  uploadsOf(pid: number): string[] {
    return (this.statements.uploadsOf.all(pid) as { temp: string }[]).map((row) => row.temp);
  }

  removeUpload(temp: string): void {
    this.statements.removeUpload.run(temp);
  }

  uploads(): string[] {
    return (this.statements.allUploads.all() as { temp: string }[]).map((row) => row.temp);
  }

  // Digest nonces

  /**
   * Accepts a nonce count atomically (one statement, so two processes cannot both accept it): false
   * when it is not above the highest count accepted for that nonce (a replay).
   */
  useNonce(nonce: string, issued: number, count: number): boolean {
    return this.statements.useNonce.run(nonce, issued, count).changes === 1;
  }

  /** Drops nonces issued at or before `before`, then the oldest ones beyond `max`. */
  pruneNonces(before: number, max: number): void {
    this.write(() => {
      this.statements.pruneNonces.run(before);
      const count = Number(this.statements.countNonces.get());
      if (count <= max) return;
      // The forgotten nonces' counts are gone: every nonce issued up to the newest of them is stale
      // from now on (its next use asks for a fresh nonce), so none of them can be replayed.
      const drop = count - Math.floor(max * 0.9);
      const newestDropped = Number(this.statements.nthOldestNonce.get(drop - 1));
      this.statements.trimNonces.run(drop);
      this.statements.raiseNonceFloor.run(newestDropped);
    });
  }

  /** Nonces issued at or before this time (ms) are stale: see {@link pruneNonces}. */
  nonceFloor(): number {
    return Number(this.statements.nonceFloor.get());
  }

  // Failed logins

  /** Until when an address is blocked (ms since the epoch), or 0. */
  blockedUntil(address: string): number {
    const until = this.statements.blockedUntil.get(address) as number | undefined;
    return until === undefined ? 0 : Number(until);
  }

  /**
   * Records a failed login of an address and counts its failures since `windowStart`, in one
   * transaction; at `limit` the address is blocked until `blockUntil` and its count restarts.
   * Returns true when it is now blocked.
   */
  failLogin(address: string, at: number, windowStart: number, limit: number, blockUntil: number): boolean {
    return this.write(() => {
      this.statements.dropFailures.run(address, windowStart, 0);
      this.statements.addFailure.run(address, at);
      if (Number(this.statements.countFailures.get(address)) < limit) return false;
      this.statements.block.run(address, blockUntil);
      this.statements.dropFailures.run(address, at, 1);
      return true;
    });
  }

  /**
   * Forgets failures before `windowStart` and blocks that ended before `now`, and keeps at most the
   * newest `max` failures (a flood from many addresses cannot grow the file without bound).
   */
  pruneLogins(windowStart: number, now: number, max: number): void {
    this.write(() => {
      this.statements.pruneFailures.run(windowStart);
      this.statements.capFailures.run(max);
      this.statements.pruneBlocks.run(now);
    });
  }

  // Quota usage

  /** The walked byte total of a share and when it was walked. */
  usage(share: string): { bytes: number; walkedAt: number } | undefined {
    const row = this.statements.usage.get(share) as { bytes: number; walkedAt: number } | undefined;
    return row && { bytes: Number(row.bytes), walkedAt: Number(row.walkedAt) };
  }

  setUsage(share: string, bytes: number, walkedAt: number): void {
    this.statements.setUsage.run(share, bytes, walkedAt);
  }

  adjustUsage(share: string, delta: number): void {
    this.statements.adjustUsage.run(delta, share);
  }

  forgetUsage(share: string): void {
    this.statements.forgetUsage.run(share);
  }

  /** Bytes reserved by uploads in progress in a share (all processes). */
  reserved(share: string): number {
    return Number(this.statements.reserved.get(share));
  }

  /** Reserves bytes for an upload of this process; returns the reservation's id. */
  reserve(share: string, bytes: number): number {
    return Number(this.statements.reserve.get(share, bytes, process.pid));
  }

  growReservation(id: number, bytes: number): void {
    this.statements.growReservation.run(bytes, id);
  }

  release(id: number): void {
    this.statements.release.run(id);
  }

  /** Drops the reservations of a process that died (`pid`), or of every process (at start). */
  releaseReservations(pid?: number): void {
    if (pid === undefined) this.statements.releaseAll.run();
    else this.statements.releaseOf.run(pid);
  }
}
