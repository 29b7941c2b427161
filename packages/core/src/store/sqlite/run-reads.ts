import type {
  ListRunsOptions,
  RunRecord,
  RunState,
  RunSummary,
  StepState,
  StepStatus,
} from '../../contracts/store.js';
import { setOwn } from '../../util/own-keys.js';
import { isInterrupted } from '../run-state.js';
import {
  ownerFromRow,
  runFromRow,
  stateFromHead,
  type OwnerRow,
  type RunHeadRow,
  type RunRow,
} from './rows.js';
import type { StoreDatabase } from './store-database.js';

/** A run's record; undefined when there is no such run. */
export function readRun({ statements }: StoreDatabase, runId: string): RunRecord | undefined {
  const row = statements.getRun.get(runId) as RunRow | undefined;
  if (row === undefined) return undefined;
  const record = runFromRow(row);
  if (row.steps_in_rows === 1) {
    const steps: unknown[] = [];
    // One step's text at a time (iterate, not all): the cursor is drained before anything else runs.
    for (const spec of statements.planSteps.iterate(runId) as IterableIterator<string>) {
      steps.push(JSON.parse(spec));
    }
    (record.plan as { steps: unknown[] }).steps = steps;
  }
  return record;
}

/** Runs newest first, with their step counts by status (see `Store.listRuns`). */
export function listRuns({ statements }: StoreDatabase, options: ListRunsOptions): RunSummary[] {
  const limit = options.limit ?? -1;
  const rows = (
    options.status === undefined
      ? statements.listRuns.all(limit)
      : statements.listRunsWithStatus.all(options.status, limit)
  ) as (Pick<RunRow, 'id' | 'pipeline' | 'status' | 'created_at' | 'updated_at'> & OwnerRow)[];
  return rows.map((row) => {
    const counts: Partial<Record<StepStatus, number>> = {};
    for (const c of statements.countSteps.all(row.id) as { status: StepStatus; n: number }[]) {
      counts[c.status] = c.n;
    }
    const summary: RunSummary = {
      id: row.id,
      pipeline: row.pipeline,
      status: row.status,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      counts,
    };
    if (isInterrupted(row.status, ownerFromRow(row))) summary.interrupted = true;
    return summary;
  });
}

/** A run's materialised state, its steps in plan order; undefined when there is no such run. */
export function readRunState({ statements }: StoreDatabase, runId: string): RunState | undefined {
  const row = statements.getRunHead.get(runId) as RunHeadRow | undefined;
  if (row === undefined) return undefined;
  const state = stateFromHead(runId, row);
  if (isInterrupted(state.status, ownerFromRow(row))) state.interrupted = true;
  // iterate() is fine here: the cursor is drained synchronously, nothing can run in between.
  for (const json of statements.stepsOfRun.iterate(runId) as IterableIterator<string>) {
    const step = JSON.parse(json) as StepState;
    setOwn(state.steps, step.stepId, step);
  }
  return state;
}
