import type { RunOwner } from '../../contracts/store.js';
import { ownerBlocksClaim } from '../run-state.js';
import { runActive, runNotFound } from '../store-errors.js';
import { ownerFromRow, type OwnerRow } from './rows.js';
import type { StoreDatabase } from './store-database.js';

/**
 * Makes `owner` the run's owner unless a live process on `thisHost` owns it (the one rule of
 * `ownerBlocksClaim`). Call it in a transaction that holds the write lock: the check and the claim are
 * one step for every process.
 */
export function claimRun(
  { statements }: StoreDatabase,
  thisHost: string,
  runId: string,
  owner: RunOwner,
): void {
  const row = statements.getOwner.get(runId) as OwnerRow | undefined;
  if (row === undefined) throw runNotFound(runId);
  const current = ownerFromRow(row);
  if (current !== undefined && ownerBlocksClaim(current, owner, thisHost)) throw runActive(runId, current);
  statements.setOwner.run(owner.pid, owner.host, owner.bootId ?? null, owner.startTime ?? null, runId);
}

/** Gives the run up, if `owner` owns it (anyone else's release changes nothing). */
export function releaseRun({ statements }: StoreDatabase, runId: string, owner: RunOwner): void {
  statements.releaseRun.run(runId, owner.pid, owner.host);
}

/** Records a cancellation request for whoever drives the run; the first reason wins. */
export function requestCancel({ statements }: StoreDatabase, runId: string, reason: string): void {
  // One statement: atomic across processes without a transaction, and the first reason wins.
  const result = statements.requestCancel.run(reason, runId);
  if (result.changes === 0 && statements.runExists.get(runId) === undefined) throw runNotFound(runId);
}

/** The pending cancellation reason of a run, if any. */
export function cancelRequested({ statements }: StoreDatabase, runId: string): string | undefined {
  const reason = statements.cancelReason.get(runId) as string | null | undefined;
  return reason ?? undefined;
}
