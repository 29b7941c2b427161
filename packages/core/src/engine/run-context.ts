import type { Plan } from '../contracts/pipeline.js';
import type { RunRecord, RunState } from '../contracts/store.js';

/** What a run's child container knows about the run it executes. */
export interface RunContext {
  readonly record: RunRecord;
  readonly plan: Plan;
  /** Present when resuming: the state recorded so far. */
  readonly resumeFrom?: RunState;
  /** Ignore cached results (still write them). */
  readonly noCache: boolean;
}
