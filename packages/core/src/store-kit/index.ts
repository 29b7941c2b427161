/**
 * `@beamline/core/store-kit`: what a Store implementation needs besides the contract, so that every store
 * agrees with `MemoryStore` and `SqliteStore` (which use exactly these). Run the contract suite from
 * `@beamline/core/testing` (`storeContractSuite`) against the new store.
 *
 * - {@link initialRunState} / {@link reduceRunState} / {@link applyRunEvent}: the one run-state reducer;
 *   `runState()` must equal it folded over `readEvents()`. {@link changesStepState} says which events
 *   touch a step, so a store can load only those steps.
 * - {@link validateAppendBatch}: run id and `seq` continuity of a batch, checked before writing.
 * - {@link STEP_TRANSITIONS} / {@link stepTransitionError}: the step events allowed in each status.
 * - {@link ownerBlocksClaim} / {@link isInterrupted}: who may claim a run, and when a `running` run's
 *   owner is gone.
 * - {@link runsToCollect}: the one retention rule of `collectGarbage` (which finished runs a policy lets
 *   go), with the policy's limits checked.
 *
 * @packageDocumentation
 */
export { validateAppendBatch } from './append-batch.js';
export { runsToCollect, type RetentionCandidate } from '../store/retention.js';
export { STEP_TRANSITIONS, stepTransitionError, type StepTransitionEvent } from './step-transitions.js';
export {
  applyRunEvent,
  changesStepState,
  initialRunState,
  isInterrupted,
  ownerBlocksClaim,
  reduceRunState,
} from '../store/run-state.js';
