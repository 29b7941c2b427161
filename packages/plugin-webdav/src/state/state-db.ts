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
      addUpload: db.prepare('INSERT OR REPLACE INTO uploads (temp, started_at) VALUES (?, ?)'),
      removeUpload: db.prepare('DELETE FROM uploads WHERE temp = ?'),
      allUploads: db.prepare('SELECT temp FROM uploads'),
    };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // Locks

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
    this.statements.addUpload.run(temp, Date.now());
  }

  removeUpload(temp: string): void {
    this.statements.removeUpload.run(temp);
  }

  uploads(): string[] {
    return (this.statements.allUploads.all() as { temp: string }[]).map((row) => row.temp);
  }
}
