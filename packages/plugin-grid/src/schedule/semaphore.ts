import { GridError } from '../errors/grid-error.js';

/** A counting semaphore with FIFO waiters that can be abandoned through an AbortSignal. */
export class Semaphore {
  private active = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly limit: number) {}

  /** Slots in use now (tests and progress read it). */
  get inUse(): number {
    return this.active;
  }

  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.active < this.limit) {
      this.active++;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(
          new GridError('GRID_ABORTED', 'aborted while waiting for a transfer slot', {
            cause: signal?.reason,
          }),
        );
      };
      this.waiters.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // The slot passes straight to the next waiter, so `active` stays the same.
      if (next) next();
      else this.active--;
    };
  }
}

/**
 * The transfer scheduler's gate: a global limit and a per-host (per storage element) limit, so a job
 * never floods one storage element however many files it has there. The host slot is taken first, so
 * a file waiting for a busy host does not hold a global slot that a file for another host could use.
 */
export class TransferLimiter {
  private readonly global: Semaphore;
  private readonly hosts = new Map<string, Semaphore>();

  constructor(
    readonly globalLimit: number,
    readonly perHostLimit: number,
  ) {
    this.global = new Semaphore(globalLimit);
  }

  async acquire(hostKey: string, signal?: AbortSignal): Promise<() => void> {
    let host = this.hosts.get(hostKey);
    if (!host) {
      host = new Semaphore(this.perHostLimit);
      this.hosts.set(hostKey, host);
    }
    const releaseHost = await host.acquire(signal);
    try {
      const releaseGlobal = await this.global.acquire(signal);
      return () => {
        releaseGlobal();
        releaseHost();
      };
    } catch (e) {
      releaseHost();
      throw e;
    }
  }
}
