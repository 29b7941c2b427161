import type { RunOwner } from '../contracts/store.js';
import { CoreError } from '../errors/core-error.js';

/** `CORE_RUN_NOT_FOUND`: no run with this id in the store. */
export function runNotFound(runId: string): CoreError {
  return new CoreError('CORE_RUN_NOT_FOUND', `run ${runId} not found`, { details: { runId } });
}

/** `CORE_STORE_FAILED`: `createRun` with the id of a run the store already holds. */
export function runExists(runId: string): CoreError {
  return new CoreError('CORE_STORE_FAILED', `run ${runId} already exists`, { details: { runId } });
}

/** `CORE_RUN_ACTIVE`: a claim refused because `owner`, a live process, drives the run. */
export function runActive(runId: string, owner: RunOwner): CoreError {
  return new CoreError('CORE_RUN_ACTIVE', `run ${runId} is driven by process ${owner.pid} on ${owner.host}`, {
    details: { runId, ownerPid: owner.pid, ownerHost: owner.host },
  });
}
