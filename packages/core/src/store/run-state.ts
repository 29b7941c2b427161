import type { RunEvent, RunEventOf } from '../contracts/events.js';
import type { RunOwner, RunRecord, RunState, RunStatus, StepState } from '../contracts/store.js';
import { recordedProcessGone } from '../process/process-identity.js';
import { ownValue, setOwn } from '../util/own-keys.js';

/**
 * The state of a run before any event: status `running`, `lastSeq` 0, and every step of the plan
 * `pending`. Step ids are taken from `record.plan.steps[].id` when the plan has that shape; anything
 * else (a foreign or partial plan) gives a state without steps, which events then fill in.
 */
export function initialRunState(record: RunRecord): RunState {
  const steps: Record<string, StepState> = {};
  for (const step of pendingSteps(record.plan)) setOwn(steps, step.stepId, step);
  return {
    id: record.id,
    pipeline: record.pipeline,
    status: 'running',
    createdAt: record.createdAt,
    updatedAt: record.createdAt,
    lastSeq: 0,
    steps,
  };
}

/**
 * Folds one event into a run state and returns the new state; the input is not modified. This is the
 * one place where run and step state is derived from the event log: every Store materialises its
 * state with it, so `runState()` always equals this function folded over `readEvents()` from
 * {@link initialRunState}.
 *
 * A step the state does not know yet (a step outside the plan, or a store that loaded only the steps a
 * batch touches) starts as `pending` before the event applies.
 */
export function reduceRunState(state: RunState, event: RunEvent): RunState {
  // Step objects are replaced, never mutated, so a shallow copy of the record is enough to keep the
  // caller's state intact.
  const next: RunState = { ...state, steps: { ...state.steps } };
  applyRunEvent(next, event);
  return next;
}

/** The events that change the state of their step. */
type StepStateEvent = RunEventOf<
  'queued' | 'started' | 'process' | 'retrying' | 'succeeded' | 'failed' | 'cached' | 'cancelled'
>;

/**
 * Whether an event changes the state of its step (as opposed to only the run's `lastSeq`/`updatedAt`).
 * Stores use it to load only the step rows a batch touches.
 */
export function changesStepState(event: RunEvent): event is StepStateEvent {
  switch (event.type) {
    case 'queued':
    case 'started':
    case 'process':
    case 'retrying':
    case 'succeeded':
    case 'failed':
    case 'cached':
    case 'cancelled':
      return true;
    case 'run-started':
    case 'run-succeeded':
    case 'run-failed':
    case 'run-cancelled':
    case 'progress':
    case 'log':
    case 'metric':
    case 'artifact':
      return false;
  }
}

/**
 * {@link reduceRunState} in place: updates `state` and replaces (never mutates) the affected step
 * object. Stores, and views that fold a live run (the CLI), use it on a state they own to avoid
 * copying the step record of a 100,000-step run for every event.
 */
export function applyRunEvent(state: RunState, event: RunEvent): void {
  applyToRunHead(state, event);
  if (changesStepState(event)) {
    // Step ids are names users choose: `constructor` is a step like any other, `__proto__` (from a store
    // written before such ids were refused) stays a key.
    setOwn(state.steps, event.stepId, nextStepState(ownValue(state.steps, event.stepId), event));
  }
}

/**
 * What an event does to a run's own fields (status, `lastSeq`, `updatedAt`, error, cancel reason), its
 * steps aside: {@link applyRunEvent} is this plus {@link nextStepState} for the event's step. A store that
 * keeps the steps a batch touches in a `Map` uses the two parts: a record keyed by 100,000 different step
 * ids costs a hidden class and an internalised key string per id (old-generation garbage in V8).
 * @internal
 */
export function applyToRunHead(state: Omit<RunState, 'steps'>, event: RunEvent): void {
  state.lastSeq = event.seq;
  state.updatedAt = event.time;
  switch (event.type) {
    case 'run-started':
      state.status = 'running';
      delete state.error;
      // A resumed run starts afresh: a cancellation recorded for the previous attempt must not stop it.
      if (event.resumed) delete state.cancelReason;
      return;
    case 'run-succeeded':
      state.status = 'succeeded';
      return;
    case 'run-failed':
      state.status = 'failed';
      state.error = event.error;
      return;
    case 'run-cancelled':
      state.status = 'cancelled';
      state.cancelReason = event.reason;
      return;
    case 'progress':
    case 'log':
    case 'metric':
    case 'artifact':
      return;
    case 'queued':
    case 'started':
    case 'process':
    case 'retrying':
    case 'succeeded':
    case 'failed':
    case 'cached':
    case 'cancelled':
      return;
  }
}

/**
 * The state of a step after one of its events, as a new object: `previous` (undefined for a step the state
 * does not have yet, which starts as `pending`) is not modified.
 * @internal
 */
export function nextStepState(previous: StepState | undefined, event: StepStateEvent): StepState {
  return reduceStep(previous ?? pendingStep(event.stepId), event);
}

function reduceStep(previous: StepState, event: RunEvent): StepState {
  const step: StepState = { ...previous };
  switch (event.type) {
    case 'queued':
      step.status = 'queued';
      return step;
    case 'started':
      step.status = 'running';
      step.attempt = event.attempt;
      step.key = event.key;
      step.keyParts = event.keyParts;
      step.startedAt = event.time;
      // Results of an earlier attempt or run no longer describe this step; the last error stays as
      // the reason this attempt happens.
      delete step.endedAt;
      delete step.outputs;
      delete step.artifacts;
      delete step.fromRunId;
      delete step.process;
      return step;
    case 'process':
      step.process = event.process;
      return step;
    case 'retrying':
      step.status = 'running';
      step.error = event.error;
      // The engine reports a retry only once the failed attempt's work is gone.
      delete step.process;
      return step;
    case 'succeeded':
      step.status = 'succeeded';
      step.outputs = event.outputs;
      step.artifacts = event.artifacts;
      step.endedAt = event.time;
      delete step.error;
      delete step.process;
      return step;
    case 'cached':
      step.status = 'cached';
      step.key = event.key;
      step.keyParts = event.keyParts;
      step.outputs = event.outputs;
      step.artifacts = event.artifacts;
      step.fromRunId = event.fromRunId;
      step.endedAt = event.time;
      delete step.error;
      delete step.process;
      return step;
    case 'failed':
      step.status = 'failed';
      step.error = event.error;
      step.endedAt = event.time;
      delete step.process;
      return step;
    case 'cancelled':
      step.status = 'cancelled';
      step.endedAt = event.time;
      delete step.process;
      return step;
    case 'run-started':
    case 'run-succeeded':
    case 'run-failed':
    case 'run-cancelled':
    case 'progress':
    case 'log':
    case 'metric':
    case 'artifact':
      return previous;
  }
}

function pendingStep(stepId: string): StepState {
  return { stepId, status: 'pending', attempt: 0 };
}

/**
 * The steps of {@link initialRunState}, one at a time, in plan order: a store that writes them out need not
 * hold the state of a 100,000-step plan at once. An id the plan lists twice comes twice (the state is the
 * same); a store keeps the first (no set of every id seen: 5 MB for 100,000 steps).
 * @internal
 */
export function* pendingSteps(plan: unknown): Generator<StepState> {
  if (typeof plan !== 'object' || plan === null) return;
  const steps = (plan as { steps?: unknown }).steps;
  if (!Array.isArray(steps)) return;
  for (const step of steps as unknown[]) {
    const id = typeof step === 'object' && step !== null ? (step as { id?: unknown }).id : undefined;
    if (typeof id === 'string' && id !== '') yield pendingStep(id);
  }
}

/**
 * Whether the current owner of a run blocks `claimant` from claiming it: a different process on this
 * host that is still alive (same pid, same start time, no reboot since). Owners on other hosts cannot be
 * checked and are taken over (a local store file is not shared across hosts). Shared by every Store so
 * that they agree on `claimRun`.
 */
export function ownerBlocksClaim(
  current: RunOwner | undefined,
  claimant: RunOwner,
  thisHost: string,
): boolean {
  if (current === undefined) return false;
  if (current.pid === claimant.pid && current.host === claimant.host) return false;
  return !recordedProcessGone(current, thisHost) && current.host === thisHost;
}

/**
 * Whether a run is interrupted: its status says `running`, but the process recorded as its owner is
 * certainly gone (see {@link RunState.interrupted}). Stores set the flag with this one rule.
 */
export function isInterrupted(status: RunStatus, owner: RunOwner | undefined): boolean {
  return status === 'running' && owner !== undefined && recordedProcessGone(owner);
}
