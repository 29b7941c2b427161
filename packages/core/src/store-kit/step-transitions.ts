import type { RunEvent, RunEventType } from '../contracts/events.js';
import type { StepStatus } from '../contracts/store.js';
import { changesStepState } from '../store/run-state.js';

/** The events that move a step; the others (`log`, `metric`, …) never change its status. */
export type StepTransitionEvent = Extract<
  RunEventType,
  'queued' | 'started' | 'process' | 'retrying' | 'succeeded' | 'failed' | 'cached' | 'cancelled'
>;

/**
 * Which step events the engine may record in each step status. A step is queued when its run starts
 * (again, on resume, unless it already succeeded), starts or is served from the cache, runs attempts
 * (`process`, `retrying`, `started` again) and ends once: `succeeded`, `cached`, `failed` or `cancelled`.
 * `failed` also comes straight after `queued` (parameters or resources refused before any attempt), and
 * `cancelled` from any status that has not ended (a failed dependency, the run's cancellation). A
 * `running` step is queued again only by a resume after its engine died. Ended steps change only by
 * being queued again on resume, never by a second end: `succeeded` then `failed` is a contradiction.
 */
export const STEP_TRANSITIONS: Readonly<Record<StepStatus, readonly StepTransitionEvent[]>> = Object.freeze({
  pending: ['queued', 'cancelled'],
  queued: ['started', 'cached', 'failed', 'cancelled'],
  running: ['process', 'retrying', 'started', 'succeeded', 'failed', 'cancelled', 'queued'],
  succeeded: [],
  cached: [],
  failed: ['queued'],
  cancelled: ['queued'],
});

/**
 * Why `event` may not follow a step in status `from`, or undefined when it may (or when the event does
 * not move steps). For stores with several writers (a shared database), to refuse a late or duplicate
 * write instead of recording a contradiction.
 */
export function stepTransitionError(from: StepStatus, event: RunEvent): string | undefined {
  if (!changesStepState(event)) return undefined;
  if (STEP_TRANSITIONS[from].includes(event.type)) return undefined;
  return `step "${event.stepId}" is ${from}; a '${event.type}' event (seq ${event.seq}) cannot follow`;
}
