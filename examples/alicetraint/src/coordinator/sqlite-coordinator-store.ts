import Database from 'better-sqlite3';
import { TaskStatus } from '../client/wire.js';
import type { CoordinatorStore } from './coordinator-store.js';
import { machineTransitionError } from './transitions.js';

/** A task as the coordinator keeps it. */
export interface TaskRow {
  readonly id: number;
  readonly name: string;
  readonly status: number;
  readonly machineId: number | null;
  readonly aodFiles: unknown;
  readonly configuration: unknown;
  readonly createdAt: number;
  readonly claimedAt: number | null;
  readonly leaseExpiresAt: number | null;
  readonly claims: number;
  readonly maxClaims: number;
  readonly cancelRequested: boolean;
  readonly reason: string | null;
  readonly updatedAt: number;
}

/** A stored result. */
export interface ResultRow {
  readonly id: number;
  readonly taskId: number;
  readonly name: string;
  readonly type: number;
  readonly description: string;
  readonly fileName: string;
  readonly size: number;
  readonly path: string;
  readonly createdAt: number;
}

/** A registered machine. */
export interface MachineRow {
  readonly id: number;
  readonly name: string;
  readonly secretHash: string;
  readonly createdAt: number;
  readonly lastActivityAt: number | null;
}

/** The outcome of a status post. */
export type StatusOutcome = { ok: true } | { ok: false; reason: string };

const SCHEMA = `
CREATE TABLE IF NOT EXISTS machines (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_activity_at INTEGER
);
CREATE TABLE IF NOT EXISTS tasks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  status INTEGER NOT NULL CHECK (status BETWEEN 0 AND 5),
  machine_id INTEGER REFERENCES machines(id),
  aod_files TEXT NOT NULL,
  configuration TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  claimed_at INTEGER,
  lease_expires_at INTEGER,
  claims INTEGER NOT NULL DEFAULT 0,
  max_claims INTEGER NOT NULL DEFAULT 3,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  reason TEXT,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_queue ON tasks (status, created_at, id);
CREATE TABLE IF NOT EXISTS results (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  name TEXT NOT NULL,
  type INTEGER NOT NULL CHECK (type BETWEEN 0 AND 2),
  description TEXT NOT NULL,
  file_name TEXT NOT NULL,
  size INTEGER NOT NULL,
  path TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS results_task ON results (task_id, id);
`;

interface TaskRecord {
  id: number;
  name: string;
  status: number;
  machine_id: number | null;
  aod_files: string;
  configuration: string;
  created_at: number;
  claimed_at: number | null;
  lease_expires_at: number | null;
  claims: number;
  max_claims: number;
  cancel_requested: number;
  reason: string | null;
  updated_at: number;
}

function toTask(r: TaskRecord): TaskRow {
  return {
    id: r.id,
    name: r.name,
    status: r.status,
    machineId: r.machine_id,
    aodFiles: JSON.parse(r.aod_files) as unknown,
    configuration: JSON.parse(r.configuration) as unknown,
    createdAt: r.created_at,
    claimedAt: r.claimed_at,
    leaseExpiresAt: r.lease_expires_at,
    claims: r.claims,
    maxClaims: r.max_claims,
    cancelRequested: r.cancel_requested !== 0,
    reason: r.reason,
    updatedAt: r.updated_at,
  };
}

const RUNNING = `status IN (${TaskStatus.Training}, ${TaskStatus.Benchmarking})`;

/**
 * The coordinator's state in SQLite (WAL), the default. Every change that reads and then writes runs in one
 * `BEGIN IMMEDIATE` transaction, so two pollers (in this process or in other processes on the same
 * file) can never claim the same task: the claim is `UPDATE … WHERE id = (SELECT … first queued)
 * RETURNING`, under the write lock.
 */
export class SqliteCoordinatorStore implements CoordinatorStore {
  private readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 10000');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(SCHEMA);
  }

  private closeSync(): void {
    this.db.close();
  }

  private addMachineSync(name: string, secretHash: string, now: number): MachineRow {
    const r = this.db
      .prepare('INSERT INTO machines (name, secret_hash, created_at) VALUES (?, ?, ?) RETURNING id')
      .get(name, secretHash, now) as { id: number };
    return { id: r.id, name, secretHash, createdAt: now, lastActivityAt: null };
  }

  private machineSync(id: number): MachineRow | undefined {
    const r = this.db.prepare('SELECT * FROM machines WHERE id = ?').get(id) as
      | { id: number; name: string; secret_hash: string; created_at: number; last_activity_at: number | null }
      | undefined;
    return r
      ? {
          id: r.id,
          name: r.name,
          secretHash: r.secret_hash,
          createdAt: r.created_at,
          lastActivityAt: r.last_activity_at,
        }
      : undefined;
  }

  private machinesSync(): MachineRow[] {
    return (this.db.prepare('SELECT id FROM machines ORDER BY id').all() as { id: number }[]).map((r) =>
      this.machineSync(r.id)!,
    );
  }

  private touchMachineSync(id: number, now: number): void {
    this.db.prepare('UPDATE machines SET last_activity_at = ? WHERE id = ?').run(now, id);
  }

  private addTaskSync(
    task: { name: string; aodFiles: unknown; configuration: unknown; maxClaims: number },
    now: number,
  ): TaskRow {
    const r = this.db
      .prepare(
        `INSERT INTO tasks (name, status, aod_files, configuration, created_at, max_claims, updated_at)
         VALUES (?, ${TaskStatus.Queued}, ?, ?, ?, ?, ?) RETURNING *`,
      )
      .get(
        task.name,
        JSON.stringify(task.aodFiles),
        JSON.stringify(task.configuration ?? {}),
        now,
        task.maxClaims,
        now,
      ) as TaskRecord;
    return toTask(r);
  }

  private taskSync(id: number): TaskRow | undefined {
    const r = this.db.prepare('SELECT * FROM tasks WHERE id = ?').get(id) as TaskRecord | undefined;
    return r ? toTask(r) : undefined;
  }

  private tasksSync(): TaskRow[] {
    return (this.db.prepare('SELECT * FROM tasks ORDER BY id').all() as TaskRecord[]).map(toTask);
  }

  /** Hands the first queued task (FIFO) to the machine, with a lease; expired leases are settled first. */
  private claimSync(machineId: number, now: number, leaseMs: number): TaskRow | undefined {
    return this.db
      .transaction(() => {
        this.expireLeasesSync(now);
        const r = this.db
          .prepare(
            `UPDATE tasks SET status = ${TaskStatus.Training}, machine_id = ?, claimed_at = ?, lease_expires_at = ?,
               claims = claims + 1, updated_at = ?
             WHERE id = (SELECT id FROM tasks WHERE status = ${TaskStatus.Queued} ORDER BY created_at, id LIMIT 1)
             RETURNING *`,
          )
          .get(machineId, now, now + leaseMs, now) as TaskRecord | undefined;
        return r ? toTask(r) : undefined;
      })
      .immediate();
  }

  /** Whether a queued task exists (a HEAD poll: it claims nothing). */
  private hasQueuedSync(): boolean {
    return (
      this.db.prepare(`SELECT 1 FROM tasks WHERE status = ${TaskStatus.Queued} LIMIT 1`).get() !== undefined
    );
  }

  /**
   * Tasks whose machine went silent past the lease: back to the queue while they have claims left,
   * else Failed with the reason. Returns how many were settled.
   */
  private expireLeasesSync(now: number): number {
    return this.db
      .transaction(() => {
        const requeued = this.db
          .prepare(
            `UPDATE tasks SET status = ${TaskStatus.Queued}, machine_id = NULL, lease_expires_at = NULL,
               reason = 'the machine went silent past its lease; requeued', updated_at = ?
             WHERE ${RUNNING} AND lease_expires_at < ? AND claims < max_claims`,
          )
          .run(now, now).changes;
        const failed = this.db
          .prepare(
            `UPDATE tasks SET status = ${TaskStatus.Failed}, lease_expires_at = NULL,
               reason = 'the machine went silent past its lease, ' || claims || ' claims in all; failed', updated_at = ?
             WHERE ${RUNNING} AND lease_expires_at < ? AND claims >= max_claims`,
          )
          .run(now, now).changes;
        return requeued + failed;
      })
      .immediate();
  }

  /** The task if it is assigned to this machine, with its lease renewed when it is running. */
  private taskOfMachineSync(
    taskId: number,
    machineId: number,
    now: number,
    leaseMs: number,
  ): TaskRow | undefined {
    return this.db
      .transaction(() => {
        const r = this.db
          .prepare('SELECT * FROM tasks WHERE id = ? AND machine_id = ?')
          .get(taskId, machineId) as TaskRecord | undefined;
        if (!r) return undefined;
        if (r.status === TaskStatus.Training || r.status === TaskStatus.Benchmarking) {
          this.db.prepare('UPDATE tasks SET lease_expires_at = ? WHERE id = ?').run(now + leaseMs, taskId);
          return toTask({ ...r, lease_expires_at: now + leaseMs });
        }
        return toTask(r);
      })
      .immediate();
  }

  /** A machine's status post, checked against the transition table in the same transaction. */
  private postStatusSync(taskId: number, machineId: number, status: number, now: number): StatusOutcome {
    return this.db
      .transaction((): StatusOutcome => {
        const r = this.db
          .prepare('SELECT status FROM tasks WHERE id = ? AND machine_id = ?')
          .get(taskId, machineId) as { status: number } | undefined;
        if (!r) return { ok: false, reason: 'record not found' };
        const refused = machineTransitionError(r.status, status);
        if (refused !== undefined) return { ok: false, reason: refused };
        if (r.status !== status) {
          const terminal = status === TaskStatus.Completed || status === TaskStatus.Failed;
          this.db
            .prepare(
              `UPDATE tasks SET status = ?, updated_at = ?${terminal ? ', lease_expires_at = NULL' : ''}${status === TaskStatus.Failed ? ", reason = 'the machine reported a failure'" : ''} WHERE id = ?`,
            )
            .run(status, now, taskId);
        }
        return { ok: true };
      })
      .immediate();
  }

  private addResultSync(result: Omit<ResultRow, 'id'>): ResultRow {
    const r = this.db
      .prepare(
        `INSERT INTO results (task_id, name, type, description, file_name, size, path, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      )
      .get(
        result.taskId,
        result.name,
        result.type,
        result.description,
        result.fileName,
        result.size,
        result.path,
        result.createdAt,
      ) as { id: number };
    return { ...result, id: r.id };
  }

  private resultsSync(taskId: number): ResultRow[] {
    return (
      this.db.prepare('SELECT * FROM results WHERE task_id = ? ORDER BY id').all(taskId) as {
        id: number;
        task_id: number;
        name: string;
        type: number;
        description: string;
        file_name: string;
        size: number;
        path: string;
        created_at: number;
      }[]
    ).map((r) => ({
      id: r.id,
      taskId: r.task_id,
      name: r.name,
      type: r.type,
      description: r.description,
      fileName: r.file_name,
      size: r.size,
      path: r.path,
      createdAt: r.created_at,
    }));
  }

  /**
   * Cancels a task: a queued one fails at once; a running one fails too, and its machine learns it
   * from its next heartbeat. Returns the task, or a reason it cannot be cancelled.
   */
  private cancelSync(taskId: number, now: number): TaskRow | string {
    return this.db
      .transaction((): TaskRow | string => {
        const r = this.db.prepare('SELECT * FROM tasks WHERE id = ?').get(taskId) as TaskRecord | undefined;
        if (!r) return 'no such task';
        if (
          r.status !== TaskStatus.Queued &&
          r.status !== TaskStatus.Training &&
          r.status !== TaskStatus.Benchmarking
        ) {
          return `the task is ${r.status === TaskStatus.Failed ? 'already Failed' : 'finished'}`;
        }
        const updated = this.db
          .prepare(
            `UPDATE tasks SET status = ${TaskStatus.Failed}, cancel_requested = 1, lease_expires_at = NULL,
               reason = 'cancelled', updated_at = ? WHERE id = ? RETURNING *`,
          )
          .get(now, taskId) as TaskRecord;
        return toTask(updated);
      })
      .immediate();
  }

  // The store interface is asynchronous (PostgreSQL); SQLite answers at once.
  close(): Promise<void> {
    return settle(() => this.closeSync());
  }
  addMachine(name: string, secretHash: string, now: number): Promise<MachineRow> {
    return settle(() => this.addMachineSync(name, secretHash, now));
  }
  machine(id: number): Promise<MachineRow | undefined> {
    return settle(() => this.machineSync(id));
  }
  machines(): Promise<MachineRow[]> {
    return settle(() => this.machinesSync());
  }
  touchMachine(id: number, now: number): Promise<void> {
    return settle(() => this.touchMachineSync(id, now));
  }
  addTask(
    task: { name: string; aodFiles: unknown; configuration: unknown; maxClaims: number },
    now: number,
  ): Promise<TaskRow> {
    return settle(() => this.addTaskSync(task, now));
  }
  task(id: number): Promise<TaskRow | undefined> {
    return settle(() => this.taskSync(id));
  }
  tasks(): Promise<TaskRow[]> {
    return settle(() => this.tasksSync());
  }
  claim(machineId: number, now: number, leaseMs: number): Promise<TaskRow | undefined> {
    return settle(() => this.claimSync(machineId, now, leaseMs));
  }
  hasQueued(): Promise<boolean> {
    return settle(() => this.hasQueuedSync());
  }
  expireLeases(now: number): Promise<number> {
    return settle(() => this.expireLeasesSync(now));
  }
  taskOfMachine(
    taskId: number,
    machineId: number,
    now: number,
    leaseMs: number,
  ): Promise<TaskRow | undefined> {
    return settle(() => this.taskOfMachineSync(taskId, machineId, now, leaseMs));
  }
  postStatus(taskId: number, machineId: number, status: number, now: number): Promise<StatusOutcome> {
    return settle(() => this.postStatusSync(taskId, machineId, status, now));
  }
  addResult(result: Omit<ResultRow, 'id'>): Promise<ResultRow> {
    return settle(() => this.addResultSync(result));
  }
  results(taskId: number): Promise<ResultRow[]> {
    return settle(() => this.resultsSync(taskId));
  }
  cancel(taskId: number, now: number): Promise<TaskRow | string> {
    return settle(() => this.cancelSync(taskId, now));
  }
}

function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}
