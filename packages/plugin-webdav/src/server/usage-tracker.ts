import { lstat, opendir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { StateDb } from '../state/state-db.js';
import type { ShareRuntime } from './scope.js';

/** Space of a share (RFC 4331). */
export interface QuotaInfo {
  /** Bytes the share holds (with a quota), or the file system's used bytes (without). */
  readonly used: number;
  /** Bytes that may still be written. */
  readonly available: number;
}

/** How long a walked total is trusted before it is walked again (uploads adjust it meanwhile). */
const WALK_TTL_MS = 60_000;

/** Bytes reserved by an upload in progress against a share's quota. */
export interface Reservation {
  /** Reserves `bytes` more (a chunked upload growing); false when the quota has no room for them. */
  grow(bytes: number): boolean;
  /** The upload was renamed into place: the share grew by `delta` bytes; the reservation ends. */
  commit(delta: number): void;
  /** The upload failed: the reservation ends, nothing changed. */
  release(): void;
}

/**
 * Free space and quotas: the file system's free space (`statfs`) always; for a share with a quota, the
 * bytes its folder holds, walked (no link followed) at most once a minute and adjusted by the uploads
 * in between, and the bytes reserved by uploads in progress. Totals and reservations live in the state
 * database and a reservation is checked and taken in one write transaction, so uploads through
 * several processes (or several at once through one) cannot together exceed the quota.
 */
export class UsageTracker {
  private readonly walking = new Map<string, Promise<number>>();

  constructor(
    private readonly db: StateDb,
    private readonly now: () => number = Date.now,
  ) {}

  /** Free bytes of the file system holding a folder. */
  async free(folder: string): Promise<number> {
    const stats = await statfs(folder);
    return stats.bavail * stats.bsize;
  }

  async quota(share: ShareRuntime): Promise<QuotaInfo> {
    const stats = await statfs(share.rootReal);
    const free = stats.bavail * stats.bsize;
    const limit = share.settings.quota;
    if (limit === undefined) return { used: (stats.blocks - stats.bfree) * stats.bsize, available: free };
    const used = await this.total(share);
    const reserved = this.db.reserved(share.name);
    return { used, available: Math.max(0, Math.min(limit - used - reserved, free)) };
  }

  /**
   * Reserves `bytes` of a share's quota for an upload that replaces a file of `replacing` bytes
   * (whose bytes are freed once it is renamed into place); undefined when the quota has no room.
   * Without a quota, every reservation succeeds.
   */
  async reserve(share: ShareRuntime, bytes: number, replacing: number): Promise<Reservation | undefined> {
    const limit = share.settings.quota;
    if (limit === undefined) return { grow: () => true, commit: () => undefined, release: () => undefined };
    await this.total(share);
    const fits = (more: number): boolean => {
      const used = this.db.usage(share.name)?.bytes ?? 0;
      return used + this.db.reserved(share.name) + more - replacing <= limit;
    };
    const id = this.db.write(() => (fits(bytes) ? this.db.reserve(share.name, bytes) : undefined));
    if (id === undefined) return undefined;
    let ended = false;
    return {
      grow: (more) =>
        this.db.write(() => {
          if (!fits(more)) return false;
          this.db.growReservation(id, more);
          return true;
        }),
      commit: (delta) => {
        if (ended) return;
        ended = true;
        this.db.write(() => {
          this.db.release(id);
          this.db.adjustUsage(share.name, delta);
        });
      },
      release: () => {
        if (ended) return;
        ended = true;
        this.db.release(id);
      },
    };
  }

  /** Forgets the total (after a change the tracker cannot count, like a recursive COPY). */
  invalidate(share: ShareRuntime): void {
    this.db.forgetUsage(share.name);
  }

  private total(share: ShareRuntime): Promise<number> {
    const cached = this.db.usage(share.name);
    if (cached && this.now() - cached.walkedAt < WALK_TTL_MS) return Promise.resolve(cached.bytes);
    let walking = this.walking.get(share.name);
    if (!walking) {
      walking = walkSize(share.rootReal)
        .then((bytes) => {
          this.db.setUsage(share.name, bytes, this.now());
          return bytes;
        })
        .finally(() => this.walking.delete(share.name));
      this.walking.set(share.name, walking);
    }
    return walking;
  }
}

async function walkSize(folder: string): Promise<number> {
  let total = 0;
  const pending = [folder];
  while (pending.length > 0) {
    const batch = pending.splice(0, 16);
    await Promise.all(
      batch.map(async (dir) => {
        let handle;
        try {
          handle = await opendir(dir, { bufferSize: 256 });
        } catch {
          return;
        }
        for await (const entry of handle) {
          const path = join(dir, entry.name);
          if (entry.isDirectory()) pending.push(path);
          else if (entry.isFile()) {
            try {
              total += (await lstat(path)).size;
            } catch {
              // Removed meanwhile.
            }
          }
        }
      }),
    );
  }
  return total;
}
