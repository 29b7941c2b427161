import type { MachineRow, ResultRow, StatusOutcome, TaskRow } from './sqlite-coordinator-store.js';

/**
 * Where the coordinator keeps machines, tasks and results: SQLite ({@link SqliteCoordinatorStore}) or
 * PostgreSQL ({@link PostgresCoordinatorStore}). Every method that reads and then writes is one
 * transaction; `claim` hands a queued task to exactly one caller however many poll at once.
 */
export interface CoordinatorStore {
  addMachine(name: string, secretHash: string, now: number): Promise<MachineRow>;
  machine(id: number): Promise<MachineRow | undefined>;
  machines(): Promise<MachineRow[]>;
  touchMachine(id: number, now: number): Promise<void>;
  addTask(
    task: { name: string; aodFiles: unknown; configuration: unknown; maxClaims: number },
    now: number,
  ): Promise<TaskRow>;
  task(id: number): Promise<TaskRow | undefined>;
  tasks(): Promise<TaskRow[]>;
  /** Hands the first queued task (FIFO) to the machine with a lease; expired leases are settled first. */
  claim(machineId: number, now: number, leaseMs: number): Promise<TaskRow | undefined>;
  hasQueued(): Promise<boolean>;
  /** Requeues (or fails, after their last claim) tasks whose lease ran out; returns how many. */
  expireLeases(now: number): Promise<number>;
  /** The task if it is assigned to the machine, its lease renewed while it runs. */
  taskOfMachine(
    taskId: number,
    machineId: number,
    now: number,
    leaseMs: number,
  ): Promise<TaskRow | undefined>;
  /** A machine's status post, checked against the transition table. */
  postStatus(taskId: number, machineId: number, status: number, now: number): Promise<StatusOutcome>;
  addResult(result: Omit<ResultRow, 'id'>): Promise<ResultRow>;
  results(taskId: number): Promise<ResultRow[]>;
  /** Cancels a queued or running task (it becomes Failed); a reason when it cannot be. */
  cancel(taskId: number, now: number): Promise<TaskRow | string>;
  close(): Promise<void>;
}
