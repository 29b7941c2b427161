import { currentProcessIdentity, recordedProcessGone } from '@beamline/core';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { GridError } from '../errors/grid-error.js';
import { printable } from '../errors/printable.js';
import type { SafeDir } from './safe-dir.js';

/** The lock file's name in the destination directory (reserved: no list entry may take it). */
export const LOCK_NAME = '.beamline-grid.lock';

/** Who holds a destination: enough to tell, on the same host, whether that process still lives. */
interface LockOwner {
  pid: number;
  host: string;
  bootId: string | undefined;
  /** Start time of the process (clock ticks since boot, Linux): tells a reused pid from the owner. */
  startTime: number | undefined;
  since: string;
  /** Tells this lock from an earlier one of the same process. */
  nonce: string;
}

/**
 * One download job per destination directory at a time: two jobs writing the same `.part` files would
 * corrupt each other's resume state. The lock is a file created exclusively (through a temporary file
 * and a hard link, so it is never seen half-written) holding the owner's pid, host, boot and start
 * time. A lock whose owner is certainly dead (same host, and the pid is gone, reused, or the host
 * rebooted) is broken; a live owner, or one on another host, makes the job fail with `GRID_DEST_BUSY`
 * naming it.
 */
export class DestLock {
  private constructor(
    private readonly dir: SafeDir,
    private readonly owner: LockOwner,
  ) {}

  static async acquire(dir: SafeDir): Promise<DestLock> {
    const me = currentProcessIdentity();
    const owner: LockOwner = {
      pid: me.pid,
      host: me.host,
      bootId: me.bootId,
      startTime: me.startTime,
      since: new Date().toISOString(),
      nonce: randomBytes(8).toString('hex'),
    };
    const tmp = `${LOCK_NAME}.${process.pid}.${owner.nonce}`;
    await dir.writeAtomic(tmp, JSON.stringify(owner), `${tmp}.tmp`);
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await dir.linkFrom(dir.at(tmp), LOCK_NAME);
          return new DestLock(dir, owner);
        } catch (e) {
          if ((e as { code?: unknown }).code !== 'EEXIST') throw e;
        }
        const held = await readOwner(dir, LOCK_NAME);
        if (held === undefined || attempt >= 3 || !ownerIsGone(held)) throw busy(dir, held);
        await breakStale(dir, held);
      }
    } finally {
      await dir.remove(tmp);
    }
  }

  /** Removes the lock, if it is still this job's. */
  async release(): Promise<void> {
    const held = await readOwner(this.dir, LOCK_NAME);
    if (held?.nonce === this.owner.nonce) await this.dir.remove(LOCK_NAME);
  }
}

async function readOwner(dir: SafeDir, name: string): Promise<LockOwner | undefined> {
  const text = await dir.readText(name, 4096);
  if (text === undefined) return undefined;
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid !== 'number' || typeof o.host !== 'string' || typeof o.nonce !== 'string')
      return undefined;
    return {
      pid: o.pid,
      host: o.host,
      bootId: o.bootId,
      startTime: o.startTime,
      since: String(o.since),
      nonce: o.nonce,
    };
  } catch {
    return undefined;
  }
}

/**
 * Moves a dead owner's lock aside and deletes it. Between reading it and moving it, another job may
 * have broken it and taken the lock itself: then what was moved is that job's live lock, which is put
 * back (and this job, looping, finds it held).
 */
async function breakStale(dir: SafeDir, stale: LockOwner): Promise<void> {
  const aside = `${LOCK_NAME}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await dir.rename(LOCK_NAME, aside);
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') return;
    throw e;
  }
  const moved = await readOwner(dir, aside);
  if (moved !== undefined && moved.nonce !== stale.nonce) {
    await dir.linkFrom(dir.at(aside), LOCK_NAME).catch(() => undefined);
  }
  await dir.remove(aside);
}

/**
 * Whether the recorded owner has certainly exited: core's rule for recorded processes (same host, and
 * the host rebooted, or the pid is gone, a zombie, or reused by a process started at another time);
 * never for an owner on another host.
 */
function ownerIsGone(o: LockOwner): boolean {
  return recordedProcessGone({
    pid: o.pid,
    host: o.host,
    ...(o.bootId !== undefined && { bootId: o.bootId }),
    ...(o.startTime !== undefined && { startTime: o.startTime }),
  });
}

function busy(dir: SafeDir, o: LockOwner | undefined): GridError {
  const path = printable(dir.display(LOCK_NAME));
  const who =
    o === undefined
      ? 'another download (its lock file is unreadable)'
      : `another download (pid ${o.pid}${o.host !== hostname() ? ` on ${printable(o.host)}` : ''}, since ${o.since})`;
  return new GridError(
    'GRID_DEST_BUSY',
    `${printable(dir.path)} is in use by ${who}; wait for it to end, or remove ${path} if that process is gone`,
    {
      retryable: true,
      details: { lock: dir.display(LOCK_NAME), ...(o && { pid: o.pid, host: o.host }) },
    },
  );
}
