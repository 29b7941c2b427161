import { readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  currentProcessIdentity,
  describeRecordedWork,
  hostBootId,
  recordedProcessGone,
  stopRecordedWork,
  type OrphanOutcome,
  type ProcessSpec,
  type RunOwner,
  type Runner,
  type RunnerLookup,
  type StepProcess,
} from '@beamline/core';
import type { QueueConnection } from '../queue/queue-connection.js';

/** The environment variable that names the job a step's process was started for (`markJob`). */
export const JOB_MARK = 'BEAMLINE_QUEUE_JOB';

/**
 * The worker's runner for one job: every process it starts carries the job's id in its environment
 * ({@link JOB_MARK}), which the reaper of another worker checks before it stops a recorded process: a
 * record alone (which a worker through the gateway writes) never gets an unrelated process stopped.
 */
export function markJob(runner: Runner, jobId: string): Runner {
  const exec: Runner['exec'] = (spec: ProcessSpec, options) =>
    runner.exec({ ...spec, env: { ...spec.env, [JOB_MARK]: jobId } }, options);
  return new Proxy(runner, {
    get(target, property) {
      if (property === 'exec') return exec;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * What a worker records with a job's `started` when its process starts: the process as core records a
 * step's, and the worker's own process (so that a worker on the host can tell the job's worker is gone).
 */
export function recordInto(started: {
  process?: StepProcess;
  workerProcess?: RunOwner;
}): (process: StepProcess) => void {
  return (process) => {
    started.process = process;
    started.workerProcess = currentProcessIdentity();
  };
}

/** Options of an {@link OrphanReaper}. */
export interface OrphanReaperOptions {
  connection: QueueConnection;
  /** This host's runners: work a runner looks after itself is stopped through it (core's `stopRecordedWork`). */
  runners: RunnerLookup;
  /** How often to look for orphans after the first look at start (ms, default 5,000). */
  intervalMs?: number;
  /** One line per process it stops (and per failed look). */
  onMessage?: (message: string) => void;
}

/** A job whose process may have outlived its worker, as the sweep reads it. */
interface OrphanRow {
  id: string;
  worker: string | null;
  state: string;
  started: string;
}

/**
 * Stops the processes that workers killed with `kill -9` (or otherwise gone without stopping their steps)
 * left running on this host. A dead worker's lease runs out and its step is retried elsewhere, and its
 * late result is refused; but its step's process group keeps running (and keeps a GPU busy) under PID 1.
 *
 * Every worker records its step's process in the job row (`started.process`: pid, process group, host,
 * boot id, start time, as core records a step's process). Each worker runs a reaper: at start and then
 * every few seconds it reads the jobs recorded on this host whose worker lost the lease (`lost`, or
 * `running` with the lease run out: it marks those `lost` first, as the coordinator would, so that the
 * old worker's writes are refused), and stops their process groups through core's `stopRecordedWork`:
 * SIGTERM, grace, SIGKILL, and only what it can prove is the recorded work (same host, same boot, the
 * recorded start time; never a reused pid). What it found is written to `jobs.reaped` (`stopped`, `gone`,
 * `unchecked`), so each job is looked at once.
 */
export class OrphanReaper {
  readonly #options: OrphanReaperOptions;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;
  #stopped = false;

  constructor(options: OrphanReaperOptions) {
    this.#options = options;
  }

  /** Looks for orphans now, then every `intervalMs`. */
  start(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.#options.intervalMs ?? 5_000);
    this.#timer.unref();
  }

  /** Stops looking; resolves once a sweep under way has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#sweeping;
  }

  /**
   * One look: stops the recorded processes on this host of jobs whose worker lost them; returns what it
   * did for each (job id → outcome).
   */
  async sweep(): Promise<Map<string, OrphanOutcome>> {
    const { pool, schema } = this.#options.connection;
    const host = hostname();
    await this.#loseJobsOfDeadWorkers();
    // Jobs whose lease ran out but that the coordinator has not marked yet (it may be down) are marked
    // here first: from then on the old worker's writes are refused, as after the coordinator's expiry.
    const { rows } = await pool.query<OrphanRow>(
      `WITH expired AS (
         UPDATE ${schema}.jobs SET state = 'lost', updated_at = now()
         WHERE state = 'running' AND lease_expires < now() AND reaped IS NULL AND started IS NOT NULL
           AND (started::jsonb -> 'process' ->> 'host') = $1
         RETURNING id, worker, state, started
       )
       SELECT id, worker, state, started FROM expired
       UNION ALL
       SELECT id, worker, state, started FROM ${schema}.jobs
       WHERE state = 'lost' AND reaped IS NULL AND started IS NOT NULL
         AND (started::jsonb -> 'process' ->> 'host') = $1`,
      [host],
    );
    const outcomes = new Map<string, OrphanOutcome>();
    for (const row of rows) {
      if (outcomes.has(row.id)) continue;
      // What a worker wrote (through the gateway too) is checked for its shape before it is used.
      const recorded = recordedProcess(row.started);
      let outcome: OrphanOutcome;
      try {
        outcome = recorded === undefined ? 'unchecked' : await this.#stop(row, recorded);
      } catch (error) {
        // One job's trouble does not hold up the others; it is looked at again next time.
        this.#say(`cannot stop the process of job ${row.id}: ${(error as Error).message}`);
        continue;
      }
      outcomes.set(row.id, outcome);
      if (outcome === 'stopped' && recorded !== undefined) this.#say(describe(row, recorded));
      await pool.query(`UPDATE ${schema}.jobs SET reaped = $2 WHERE id = $1 AND reaped IS NULL`, [
        row.id,
        outcome,
      ]);
    }
    return outcomes;
  }

  /**
   * Running jobs whose worker ran on this host and is gone (its recorded process is not alive: `kill -9`,
   * a crash, a reboot) are marked `lost` at once: their lease can never be renewed, and the step is
   * retried without waiting for the lease to run out.
   */
  async #loseJobsOfDeadWorkers(): Promise<void> {
    const { pool, schema } = this.#options.connection;
    const { rows } = await pool.query<{ id: string; started: string }>(
      `SELECT id, started FROM ${schema}.jobs
       WHERE state = 'running' AND reaped IS NULL AND started IS NOT NULL
         AND (started::jsonb -> 'workerProcess' ->> 'host') = $1`,
      [hostname()],
    );
    const dead = rows
      .filter((row) => {
        const worker = workerProcessOf(row.started);
        return worker !== undefined && recordedProcessGone(worker);
      })
      .map((row) => row.id);
    if (dead.length === 0) return;
    await pool.query(
      `UPDATE ${schema}.jobs SET state = 'lost', updated_at = now() WHERE id = ANY($1::text[]) AND state = 'running'`,
      [dead],
    );
  }

  /** Stops a recorded process group if what runs under its pid was started for this job. */
  async #stop(row: OrphanRow, recorded: StepProcess): Promise<OrphanOutcome> {
    // Only on this boot of this host can a pid mean a process here (else core's check says `gone`).
    if (recorded.pid !== undefined && recorded.host === hostname() && recorded.bootId === hostBootId()) {
      if (startedForJob(recorded.pid, recorded.pgid, row.id) === 'no') {
        this.#say(
          `left ${describeRecordedWork(recorded)} of job ${row.id} alone: it was not started for that job (the record of worker ${row.worker ?? '?'} does not match the process)`,
        );
        return 'unchecked';
      }
    }
    return stopRecordedWork(recorded, this.#options.runners);
  }

  #tick(): void {
    if (this.#sweeping !== undefined || this.#stopped) return;
    this.#sweeping = this.sweep()
      .then(
        () => undefined,
        (error: unknown) => this.#say(`cannot look for orphaned processes: ${(error as Error).message}`),
      )
      .finally(() => (this.#sweeping = undefined));
  }

  #say(message: string): void {
    this.#options.onMessage?.(message);
  }
}

function describe(row: OrphanRow, recorded: StepProcess): string {
  return `stopped ${describeRecordedWork(recorded)} of job ${row.id}, left running by worker ${row.worker ?? '?'} (its lease is lost)`;
}

/**
 * Whether what runs under a recorded pid (or, once it exited, in its group `pgid`) was started for job
 * `jobId` ({@link JOB_MARK} in the environment of the process or of a member of its group): `gone` when
 * nothing of it is left; `no` when nothing live carries the mark (or its environment cannot be read:
 * another user's process).
 */
function startedForJob(pid: number, pgid: number | undefined, jobId: string): 'yes' | 'no' | 'gone' {
  const own = environMark(pid);
  if (own === jobId) return 'yes';
  if (pgid === undefined) return own === undefined ? 'gone' : 'no';
  let live = own !== undefined;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return 'no';
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === pid) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) !== pgid) continue;
    } catch {
      continue;
    }
    const mark = environMark(Number(entry));
    if (mark === jobId) return 'yes';
    if (mark !== undefined) live = true;
  }
  return live ? 'no' : 'gone';
}

/** The mark in a live process's environment; `''` without one or unreadable; undefined when it is gone. */
function environMark(pid: number): string | undefined {
  let environ: string;
  try {
    environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : '';
  }
  // A zombie (exited, not reaped) has an empty environment and nothing left to stop.
  if (environ === '') return undefined;
  const prefix = `${JOB_MARK}=`;
  for (const entry of environ.split('\0')) if (entry.startsWith(prefix)) return entry.slice(prefix.length);
  return '';
}

/** A non-array object. */
function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const optional = (value: unknown, type: 'string' | 'number'): boolean =>
  value === undefined || (type === 'number' ? Number.isSafeInteger(value) : typeof value === type);

/** The step's process as the job's `started` records it; undefined when missing or malformed. */
function recordedProcess(started: string): StepProcess | undefined {
  const process = parseStarted(started)?.process;
  if (!isObject(process) || typeof process.runner !== 'string' || typeof process.host !== 'string')
    return undefined;
  if (!optional(process.pid, 'number') || !optional(process.pgid, 'number')) return undefined;
  if (!optional(process.startTime, 'number') || !optional(process.bootId, 'string')) return undefined;
  if (!optional(process.containerId, 'string') || !optional(process.jobId, 'string')) return undefined;
  return process as unknown as StepProcess;
}

/** The worker's own process as the job's `started` records it; undefined when missing or malformed. */
function workerProcessOf(started: string): RunOwner | undefined {
  const worker = parseStarted(started)?.workerProcess;
  if (!isObject(worker) || !Number.isSafeInteger(worker.pid) || typeof worker.host !== 'string')
    return undefined;
  if (!optional(worker.startTime, 'number') || !optional(worker.bootId, 'string')) return undefined;
  return worker as unknown as RunOwner;
}

function parseStarted(started: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(started);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
