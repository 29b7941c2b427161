import { randomUUID } from 'node:crypto';
import { HttpError } from '../http/http-error.js';
import type { LockRecord, StateDb } from './state-db.js';

/** A place a lock can cover: a share and a path inside it (`''` for its root). */
export interface LockTarget {
  readonly share: string;
  readonly path: string;
}

/** What a new lock asks for. */
export interface LockRequest extends LockTarget {
  readonly depth: 0 | -1;
  readonly scope: 'exclusive' | 'shared';
  readonly owner: string | undefined;
  readonly principal: string | undefined;
  readonly timeoutMs: number;
}

function isAncestorOrSelf(ancestor: string, path: string): boolean {
  return ancestor === '' || path === ancestor || path.startsWith(`${ancestor}/`);
}

function isBelow(path: string, ancestor: string): boolean {
  return path !== ancestor && isAncestorOrSelf(ancestor, path);
}

/**
 * Write locks (RFC 4918 class 2), exclusive and shared, depth 0 or infinity, enforced by token (a
 * request that changes a locked resource must submit the lock's token, whoever sends it), kept in the
 * state database, so they survive a restart and are the same for every process serving the share.
 * Each process keeps a copy in memory, checked before every use against the database's
 * `data_version` (a pragma that changes when another connection committed; microseconds) and the
 * locks' generation: a lock taken or released by another process is seen by the next request here.
 * Changes run in a write transaction that re-reads the locks first, so two processes cannot both take
 * conflicting locks. Expired locks are dropped when next looked at.
 */
export class LockManager {
  private readonly locks = new Map<string, LockRecord>();
  private seenDataVersion = -1;
  private version = -1;

  constructor(
    private readonly db: StateDb,
    private readonly now: () => number = Date.now,
  ) {
    this.sync();
  }

  /** Reloads the locks when another process changed them since the last look. */
  private sync(): void {
    const dataVersion = this.db.dataVersion();
    if (dataVersion === this.seenDataVersion) return;
    this.seenDataVersion = dataVersion;
    const version = this.db.locksVersion();
    if (version === this.version) return;
    this.version = version;
    this.locks.clear();
    for (const lock of this.db.loadLocks()) this.locks.set(lock.token, lock);
  }

  /** Runs a change of the locks in a write transaction, on the current locks, and records it. */
  private change<T>(fn: () => T): T {
    return this.db.write(() => {
      this.sync();
      const result = fn();
      this.version = this.db.bumpLocksVersion();
      return result;
    });
  }

  private dropExpired(tokens: readonly string[]): void {
    this.change(() => {
      for (const token of tokens) this.locks.delete(token);
      this.db.deleteLocks(tokens);
    });
  }

  private live(): LockRecord[] {
    this.sync();
    const now = this.now();
    const expired: string[] = [];
    const result: LockRecord[] = [];
    for (const lock of this.locks.values()) {
      if (lock.expiresAt <= now) expired.push(lock.token);
      else result.push(lock);
    }
    if (expired.length > 0) this.dropExpired(expired);
    return result;
  }

  /** Live lock by token. */
  get(token: string): LockRecord | undefined {
    this.sync();
    const lock = this.locks.get(token);
    if (lock && lock.expiresAt <= this.now()) {
      this.dropExpired([token]);
      return undefined;
    }
    return lock;
  }

  /** Locks that cover a resource: its own and depth-infinity locks of its ancestors. */
  covering(target: LockTarget): LockRecord[] {
    return this.live().filter(
      (lock) =>
        lock.share === target.share &&
        (lock.path === target.path || (lock.depth === -1 && isAncestorOrSelf(lock.path, target.path))),
    );
  }

  /** Locks rooted strictly below a resource. */
  below(target: LockTarget): LockRecord[] {
    return this.live().filter((lock) => lock.share === target.share && isBelow(lock.path, target.path));
  }

  /** Locks rooted exactly at a resource (any depth). */
  at(target: LockTarget): LockRecord[] {
    return this.live().filter((lock) => lock.share === target.share && lock.path === target.path);
  }

  /** Creates a lock; 423 when it conflicts with an existing one. */
  create(request: LockRequest): LockRecord {
    return this.change(() => {
      const conflicts = [...this.covering(request), ...(request.depth === -1 ? this.below(request) : [])];
      for (const other of conflicts)
        if (request.scope === 'exclusive' || other.scope === 'exclusive')
          throw new HttpError(423, 'the resource is locked', {}, '<D:no-conflicting-lock/>');
      const lock: LockRecord = {
        ...request,
        token: `urn:uuid:${randomUUID()}`,
        expiresAt: this.now() + request.timeoutMs,
      };
      this.locks.set(lock.token, lock);
      this.db.saveLock(lock);
      return lock;
    });
  }

  /** Extends a lock's timeout. */
  refresh(token: string, timeoutMs: number): LockRecord | undefined {
    return this.change(() => {
      const lock = this.get(token);
      if (!lock) return undefined;
      const refreshed = { ...lock, timeoutMs, expiresAt: this.now() + timeoutMs };
      this.locks.set(token, refreshed);
      this.db.saveLock(refreshed);
      return refreshed;
    });
  }

  remove(token: string): boolean {
    return this.change(() => {
      const existed = this.locks.delete(token);
      this.db.deleteLocks([token]);
      return existed;
    });
  }

  /** Drops the locks of a resource and of everything below it (after DELETE, MOVE). */
  removeTree(target: LockTarget): void {
    const inTree = (): string[] =>
      this.live()
        .filter((lock) => lock.share === target.share && isAncestorOrSelf(target.path, lock.path))
        .map((lock) => lock.token);
    if (inTree().length === 0) return;
    this.change(() => {
      const tokens = inTree();
      for (const token of tokens) this.locks.delete(token);
      this.db.deleteLocks(tokens);
    });
  }

  /**
   * Checks that a request may change a resource: each lock that covers it (and, with `members`, its
   * parent collection's locks, since adding or removing a member changes the parent; with `tree`, every
   * lock below it) must have its token among `tokens` (for shared locks one of them is enough). Throws
   * 423 naming the locked resource.
   */
  assertCanModify(
    target: LockTarget,
    tokens: ReadonlySet<string>,
    options: { members?: boolean; tree?: boolean; hrefOf: (target: LockTarget) => string },
  ): void {
    const relevant = [...this.covering(target)];
    if (options.members && target.path !== '') {
      const parent = {
        share: target.share,
        path: target.path.includes('/') ? target.path.slice(0, target.path.lastIndexOf('/')) : '',
      };
      for (const lock of this.covering(parent)) if (!relevant.includes(lock)) relevant.push(lock);
    }
    if (options.tree)
      for (const lock of this.below(target)) if (!relevant.includes(lock)) relevant.push(lock);
    if (relevant.length === 0) return;
    // Group by lock root: an exclusive lock needs its own token; shared locks on one root need any one.
    const byRoot = new Map<string, LockRecord[]>();
    for (const lock of relevant) {
      const key = `${lock.share}\u0000${lock.path}\u0000${lock.scope}`;
      byRoot.set(key, [...(byRoot.get(key) ?? []), lock]);
    }
    for (const group of byRoot.values()) {
      if (!group.some((lock) => tokens.has(lock.token))) {
        const lock = group[0] as LockRecord;
        throw new HttpError(
          423,
          'the resource is locked and no lock token was submitted',
          {},
          `<D:lock-token-submitted><D:href>${options.hrefOf(lock)}</D:href></D:lock-token-submitted>`,
        );
      }
    }
  }
}
