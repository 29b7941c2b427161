/** Runtime-wide settings the engine reads. */
export interface RuntimeConfig {
  /** Working directory of runs (absolute). */
  readonly cwd: string;
  readonly maxParallel: number;
  readonly cancelPollMs: number;
  /**
   * How long after aborting an attempt the engine waits for the command to end by itself before it
   * unsubscribes (the runner's own SIGTERM → SIGKILL grace runs inside this).
   */
  readonly stopGraceMs: number;
}
