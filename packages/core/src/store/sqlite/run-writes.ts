import type { RunEvent } from '../../contracts/events.js';
import type { RunRecord, StepState } from '../../contracts/store.js';
import { validateAppendBatch } from '../../store-kit/append-batch.js';
import {
  applyToRunHead,
  changesStepState,
  initialRunState,
  nextStepState,
  pendingSteps,
} from '../run-state.js';
import { runExists, runNotFound } from '../store-errors.js';
import { stateFromHead, type RunHeadRow } from './rows.js';
import type { StoreDatabase } from './store-database.js';

/** Writes a new run: its row, its plan and params, and its plan's steps, pending. Call it in a transaction. */
export function insertRun({ statements }: StoreDatabase, run: RunRecord): void {
  if (statements.runExists.get(run.id) !== undefined) throw runExists(run.id);
  // The run's head only: its steps are written one at a time below.
  const state = initialRunState({ ...run, plan: undefined });
  statements.insertRun.run(
    run.id,
    run.pipeline,
    run.cwd,
    run.source ?? null,
    run.createdAt,
    state.updatedAt,
    state.status,
    state.lastSeq,
  );
  // A plan's steps go one row each: the plan is never one JSON text (tens of megabytes for 100,000 steps).
  const steps = planSteps(run.plan);
  statements.insertRunSpec.run(
    run.id,
    run.plan === undefined ? null : JSON.stringify(steps ? { ...run.plan, steps: [] } : run.plan),
    JSON.stringify(run.params),
    steps ? 1 : 0,
  );
  steps?.forEach((step, position) =>
    statements.insertPlanStep.run(run.id, position, JSON.stringify(step) ?? 'null'),
  );
  let position = 0;
  for (const step of pendingSteps(run.plan)) {
    statements.insertStep.run(run.id, step.stepId, position++, step.status, JSON.stringify(step));
  }
}

/** The steps of a plan shaped as the planner makes it (an object with a list of steps). */
function planSteps(plan: unknown): readonly unknown[] | undefined {
  if (typeof plan !== 'object' || plan === null || Array.isArray(plan)) return undefined;
  const steps = (plan as { steps?: unknown }).steps;
  return Array.isArray(steps) ? steps : undefined;
}

/**
 * Appends a batch of events and materialises the run and step state they lead to, with the one reducer.
 * Call it in a transaction that holds the write lock (the log text file is written under it).
 */
export function appendEvents(database: StoreDatabase, runId: string, events: readonly RunEvent[]): void {
  const { statements } = database;
  const head = statements.getRunHead.get(runId) as RunHeadRow | undefined;
  if (head === undefined) throw runNotFound(runId);
  // Validate the whole batch before writing anything, so a bad batch leaves no trace even before
  // the rollback.
  validateAppendBatch(runId, head.last_seq, events);

  // Large log text goes to the file first, so the rows that point at it commit only after it is
  // written. A failure here throws before any row is written.
  const ranges = database.texts?.writeLarge(events);

  // Only the steps this batch changes are loaded: a 100,000-step run is never read whole. They are kept in
  // a Map, not in the state's record: see applyToRunHead.
  const state = stateFromHead(runId, head);
  const touched = new Map<string, StepState>();
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    const range = ranges?.get(i);
    statements.insertEvent.run(
      runId,
      event.seq,
      event.type,
      'stepId' in event ? event.stepId : null,
      event.time,
      // The placeholder keeps the key where it was, so a read gives back the same object shape.
      JSON.stringify(range === undefined ? event : { ...event, text: '' }),
      range?.offset ?? null,
      range?.length ?? null,
    );
    if (changesStepState(event)) {
      let step = touched.get(event.stepId);
      if (step === undefined) {
        const json = statements.getStep.get(runId, event.stepId) as string | undefined;
        if (json !== undefined) step = JSON.parse(json) as StepState;
      }
      touched.set(event.stepId, nextStepState(step, event));
    }
    applyToRunHead(state, event);
  }
  for (const [stepId, step] of touched) {
    statements.upsertStep.run(runId, stepId, step.status, JSON.stringify(step));
  }
  statements.updateRun.run(
    state.updatedAt,
    state.status,
    state.lastSeq,
    state.cancelReason ?? null,
    state.error === undefined ? null : JSON.stringify(state.error),
    runId,
  );
}
