import { lstat, opendir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
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

interface Walked {
  bytes: number;
  at: number;
}

/**
 * Free space and quotas: the file system's free space (`statfs`) always; for a share with a quota, the
 * bytes its folder holds, walked (no link followed) at most once a minute and adjusted by the uploads
 * in between.
 */
export class UsageTracker {
  private readonly walked = new Map<string, Walked>();
  private readonly walking = new Map<string, Promise<Walked>>();

  constructor(private readonly now: () => number = Date.now) {}

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
    const used = (await this.total(share)).bytes;
    return { used, available: Math.max(0, Math.min(limit - used, free)) };
  }

  /** Records bytes added (or removed, negative) by an upload. */
  adjust(share: ShareRuntime, delta: number): void {
    const walked = this.walked.get(share.name);
    if (walked) walked.bytes = Math.max(0, walked.bytes + delta);
  }

  /** Forgets the total (after a change the tracker cannot count, like a recursive COPY). */
  invalidate(share: ShareRuntime): void {
    this.walked.delete(share.name);
  }

  private total(share: ShareRuntime): Promise<Walked> {
    const cached = this.walked.get(share.name);
    if (cached && this.now() - cached.at < WALK_TTL_MS) return Promise.resolve(cached);
    let walking = this.walking.get(share.name);
    if (!walking) {
      walking = walkSize(share.rootReal)
        .then((bytes) => {
          const walked = { bytes, at: this.now() };
          this.walked.set(share.name, walked);
          return walked;
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
