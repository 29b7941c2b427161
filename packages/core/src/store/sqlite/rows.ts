import type { Artifact } from '../../contracts/artifact.js';
import type { StepOutputs } from '../../contracts/command.js';
import type { CacheKeyParts, ErrorInfo } from '../../contracts/events.js';
import type { CacheRecord, RunOwner, RunRecord, RunState, RunStatus } from '../../contracts/store.js';

/** A run's record row (`runs` joined with `run_specs`). */
export interface RunRow {
  id: string;
  pipeline: string;
  plan: string | null;
  params: string;
  cwd: string;
  source: string | null;
  created_at: number;
  updated_at: number;
  status: RunStatus;
  /** 1: the plan's steps are rows of `plan_steps` (see `insertRun`). */
  steps_in_rows: number | null;
}

/** The owner columns of a `runs` row. */
export interface OwnerRow {
  owner_pid: number | null;
  owner_host: string | null;
  owner_boot_id: string | null;
  owner_start_time: number | null;
}

/** What a `runs` row holds of a run's state (everything but its steps). */
export interface RunHeadRow extends OwnerRow {
  pipeline: string;
  created_at: number;
  updated_at: number;
  status: RunStatus;
  last_seq: number;
  cancel_reason: string | null;
  error: string | null;
}

/** A `cache` row. */
export interface CacheRow {
  key: string;
  scope: string;
  key_parts: string;
  outputs: string;
  artifacts: string;
  run_id: string;
  step_id: string;
  created_at: number;
}

/** An `events` row; the text of a large log event lies in the log text file at the offset and length. */
export interface EventRow {
  seq: number;
  body: string;
  text_offset: number | null;
  text_length: number | null;
}

/** The run's record from its row. */
export function runFromRow(row: RunRow): RunRecord {
  const record: RunRecord = {
    id: row.id,
    pipeline: row.pipeline,
    plan: row.plan === null ? undefined : JSON.parse(row.plan),
    params: JSON.parse(row.params) as Record<string, unknown>,
    cwd: row.cwd,
    createdAt: row.created_at,
  };
  if (row.source !== null) record.source = row.source;
  return record;
}

/** The run's state as its row has it, with no steps yet. */
export function stateFromHead(runId: string, head: RunHeadRow): RunState {
  const state: RunState = {
    id: runId,
    pipeline: head.pipeline,
    status: head.status,
    createdAt: head.created_at,
    updatedAt: head.updated_at,
    lastSeq: head.last_seq,
    steps: {},
  };
  if (head.error !== null) state.error = JSON.parse(head.error) as ErrorInfo;
  if (head.cancel_reason !== null) state.cancelReason = head.cancel_reason;
  return state;
}

/** The run's owner from its row; undefined when nobody owns it. */
export function ownerFromRow(row: OwnerRow): RunOwner | undefined {
  if (row.owner_pid === null || row.owner_host === null) return undefined;
  const owner: RunOwner = { pid: row.owner_pid, host: row.owner_host };
  if (row.owner_boot_id !== null) owner.bootId = row.owner_boot_id;
  if (row.owner_start_time !== null) owner.startTime = row.owner_start_time;
  return owner;
}

/** The cache record from its row. */
export function cacheFromRow(row: CacheRow): CacheRecord {
  return {
    key: row.key,
    keyParts: JSON.parse(row.key_parts) as CacheKeyParts,
    scope: row.scope,
    outputs: JSON.parse(row.outputs) as StepOutputs,
    artifacts: JSON.parse(row.artifacts) as Artifact[],
    runId: row.run_id,
    stepId: row.step_id,
    createdAt: row.created_at,
  };
}
