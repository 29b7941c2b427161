import type { GridEvent } from './grid-event.js';

/** Progress of one file being transferred. */
export interface FileProgress {
  readonly name: string;
  readonly size: number | undefined;
  /** Bytes of this file present so far (resumed + received). */
  bytes: number;
  lastBytes: number;
  lastTime: number;
  rate: number;
}

/**
 * The job's byte counters and the throttled `progress` events: one per active file every interval, with
 * smoothed per-file and job rates and the job's ETA.
 */
export class ProgressTracker {
  /** Bytes that crossed the network in this job. */
  transferred = 0;
  /** Bytes of files finished (downloaded, cached or present). */
  doneBytes = 0;
  totalSize = 0;
  private totalRate = 0;
  private lastTotal = { bytes: 0, time: performance.now() };
  private readonly active = new Set<FileProgress>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly emit: (e: GridEvent) => void) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** A new progress record for a file (not yet active). */
  track(name: string, size: number | undefined): FileProgress {
    return { name, size, bytes: 0, lastBytes: 0, lastTime: performance.now(), rate: 0 };
  }

  activate(p: FileProgress): void {
    this.active.add(p);
  }

  deactivate(p: FileProgress): void {
    this.active.delete(p);
  }

  private tick(): void {
    const now = performance.now();
    let activeBytes = 0;
    for (const a of this.active) {
      const dt = (now - a.lastTime) / 1000;
      if (dt > 0)
        a.rate =
          a.rate === 0 ? (a.bytes - a.lastBytes) / dt : 0.5 * a.rate + (0.5 * (a.bytes - a.lastBytes)) / dt;
      a.lastBytes = a.bytes;
      a.lastTime = now;
      activeBytes += a.bytes;
    }
    const total = this.doneBytes + activeBytes;
    const dt = (now - this.lastTotal.time) / 1000;
    if (dt > 0) {
      const inst = Math.max(0, (this.transferred - this.lastTotal.bytes) / dt);
      this.totalRate = this.totalRate === 0 ? inst : 0.7 * this.totalRate + 0.3 * inst;
    }
    this.lastTotal = { bytes: this.transferred, time: now };
    const eta =
      this.totalRate > 0 && this.totalSize > 0
        ? Math.max(0, (this.totalSize - total) / this.totalRate)
        : undefined;
    for (const a of this.active) {
      this.emit({
        type: 'progress',
        name: a.name,
        bytes: a.bytes,
        size: a.size,
        rate: a.rate,
        totalBytes: total,
        totalSize: this.totalSize,
        totalRate: this.totalRate,
        eta,
      });
    }
  }
}
