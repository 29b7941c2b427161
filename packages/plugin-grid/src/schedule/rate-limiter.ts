import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A token bucket shared by all transfers of a job: `take(n)` resolves when n bytes may pass. Awaiting it
 * in the body loop stops reading, so TCP flow control slows the sender down instead of buffering.
 */
export class RateLimiter {
  private tokens: number;
  private last = performance.now();
  /** Burst: a quarter second of traffic, so a limit is smooth at the scale of progress updates. */
  private readonly capacity: number;

  constructor(readonly bytesPerSecond: number) {
    this.capacity = Math.max(bytesPerSecond / 4, 64 * 1024);
    this.tokens = this.capacity;
  }

  async take(n: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const now = performance.now();
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
      this.last = now;
      if (this.tokens >= Math.min(n, this.capacity)) {
        this.tokens -= n;
        return;
      }
      const waitMs = ((Math.min(n, this.capacity) - this.tokens) / this.bytesPerSecond) * 1000;
      await sleep(Math.max(1, waitMs), undefined, signal ? { signal } : undefined);
    }
  }
}
