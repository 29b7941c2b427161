import { GridError } from '../errors/grid-error.js';

/** Minimum-rate rule: a transfer slower than this for a whole window moves on to the next replica. */
export interface StallOptions {
  /** Bytes per second; 0 turns the detector off. */
  readonly minBytesPerSec: number;
  /** Window (ms) over which the rate is measured. */
  readonly windowMs: number;
}

/**
 * Watches a transfer's byte count and aborts it with `GRID_STALLED` when it stays below the minimum
 * rate for a full window (Rucio's stall watchdog, but moving on to another replica instead of waiting
 * for a global timeout).
 */
export class StallWatch {
  private bytes = 0;
  private windowStartBytes = 0;
  private windowStart = performance.now();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: StallOptions,
    private readonly abort: (reason: GridError) => void,
    private readonly where: string,
  ) {
    if (options.minBytesPerSec > 0) {
      this.timer = setInterval(() => this.check(), Math.max(100, Math.min(1000, options.windowMs / 4)));
      this.timer.unref();
    }
  }

  add(n: number): void {
    this.bytes += n;
  }

  private check(): void {
    const now = performance.now();
    const elapsed = now - this.windowStart;
    if (elapsed < this.options.windowMs) return;
    const rate = ((this.bytes - this.windowStartBytes) * 1000) / elapsed;
    if (rate < this.options.minBytesPerSec) {
      this.stop();
      this.abort(
        new GridError(
          'GRID_STALLED',
          `${this.where}: ${Math.round(rate / 1024)} KiB/s for ${Math.round(elapsed / 1000)} s, below the minimum of ${Math.round(this.options.minBytesPerSec / 1024)} KiB/s`,
          { retryable: true, details: { rate } },
        ),
      );
      return;
    }
    this.windowStart = now;
    this.windowStartBytes = this.bytes;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
