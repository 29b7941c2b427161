/**
 * The submission's time budget, excluding the time the runner spends computing metrics (PETRIC's
 * `MetricsWithTimeout`): {@link now} is the wall clock minus the excluded time, the budget is spent when
 * it passes `start + seconds`. Times are seconds since the epoch.
 */
export class BudgetClock {
  private offset = 0;
  private excludingSince: number | undefined;
  private started = 0;

  constructor(
    /** The budget in seconds (3600 in PETRIC, 600 in PETRIC2). */
    readonly seconds: number,
    private readonly wallClock: () => number = () => Date.now() / 1000,
  ) {
    if (!(seconds > 0)) throw new RangeError(`budget must be a positive number of seconds, got ${seconds}`);
    this.reset();
  }

  /** Starts the budget again from now; returns the start time (the `reset` scalar's wall time). */
  reset(): number {
    this.offset = 0;
    this.excludingSince = undefined;
    this.started = this.wallClock();
    return this.started;
  }

  /** Wall time minus the excluded time so far (while excluding: frozen at the moment exclusion began). */
  now(): number {
    return (this.excludingSince ?? this.wallClock()) - this.offset;
  }

  /** Seconds of budget used. */
  used(): number {
    return this.now() - this.started;
  }

  /** True once the budget is spent. */
  expired(): boolean {
    return this.used() > this.seconds;
  }

  /** Stops the clock (metric computation starts); nested calls are an error. */
  pause(): void {
    if (this.excludingSince !== undefined) throw new Error('budget clock already paused');
    this.excludingSince = this.wallClock();
  }

  /** Restarts the clock; the paused time is excluded from the budget. */
  resume(): void {
    if (this.excludingSince === undefined) throw new Error('budget clock is not paused');
    this.offset += this.wallClock() - this.excludingSince;
    this.excludingSince = undefined;
  }

  /** Runs `fn` with the clock paused. */
  async exclude<T>(fn: () => T | Promise<T>): Promise<T> {
    this.pause();
    try {
      return await fn();
    } finally {
      this.resume();
    }
  }
}
