import type { RunEvent } from '../contracts/events.js';
import { CoreError } from '../errors/core-error.js';

/**
 * Checks a batch for `Store.append` before anything is written: every event belongs to `runId`, and the
 * `seq` numbers continue the log from `lastSeq` without gaps or repeats. Throws `CORE_STORE_FAILED`
 * naming the first offending event; a store then writes nothing of the batch (all or nothing).
 *
 * @param lastSeq the `seq` of the last event the store holds for the run (0 for none)
 */
export function validateAppendBatch(runId: string, lastSeq: number, events: readonly RunEvent[]): void {
  let expected = lastSeq + 1;
  for (const event of events) {
    if (event.runId !== runId) {
      throw new CoreError(
        'CORE_STORE_FAILED',
        `event seq ${event.seq} belongs to run ${event.runId}, not ${runId}`,
        {
          details: { runId, eventRunId: event.runId, seq: event.seq },
        },
      );
    }
    if (event.seq !== expected) {
      throw new CoreError(
        'CORE_STORE_FAILED',
        `run ${runId}: expected event seq ${expected}, got ${event.seq} (the log must continue without gaps or repeats)`,
        { details: { runId, expectedSeq: expected, gotSeq: event.seq } },
      );
    }
    expected += 1;
  }
}
