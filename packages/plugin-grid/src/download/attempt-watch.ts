import { GridError } from '../errors/grid-error.js';
import { toGridError } from '../transport/failure.js';
import { StallWatch, type StallOptions } from '../transport/stall-watch.js';

/**
 * The abort signal of one attempt, whatever its driver: the job's signal plus the stall watchdog, which
 * starts before the first request, so a replica that accepts the connection and never answers (HEAD
 * or GET), or sends headers and then nothing, is cut like a slow body. Counts the attempt's bytes.
 */
export class AttemptWatch {
  private readonly ctl = new AbortController();
  private readonly watch: StallWatch;
  readonly signal: AbortSignal;
  /** Bytes received in this attempt. */
  bytes = 0;

  constructor(
    private readonly outer: AbortSignal,
    where: string,
    stall: StallOptions,
  ) {
    this.signal = AbortSignal.any([outer, this.ctl.signal]);
    this.watch = new StallWatch(stall, (reason) => this.ctl.abort(reason), where);
  }

  add(n: number): void {
    this.bytes += n;
    this.watch.add(n);
  }

  stop(): void {
    this.watch.stop();
  }

  /** The real reason behind an error thrown while aborting (stall, caller abort), or the error itself. */
  explain(e: unknown, where: string): GridError {
    if (this.outer.aborted)
      return new GridError('GRID_ABORTED', 'download aborted; the .part file is kept for resume', {
        cause: this.outer.reason,
      });
    const reason: unknown = this.ctl.signal.reason;
    if (this.ctl.signal.aborted && reason instanceof GridError) return reason;
    return toGridError(e, where);
  }
}
