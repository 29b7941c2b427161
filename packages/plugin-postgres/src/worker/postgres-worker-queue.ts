import { randomUUID } from 'node:crypto';
import {
  CANCEL_CHANNEL,
  JOB_CHANNEL,
  QUEUE_CHANNEL,
  type QueueConnection,
} from '../queue/queue-connection.js';
import type { JobStarted } from '../queue/queue-runner.js';
import type {
  ClaimedJob,
  HeartbeatReply,
  JobEnd,
  OutputChunk,
  QueueCandidate,
  WorkerQueue,
} from './worker-queue.js';

/**
 * The {@link WorkerQueue} on PostgreSQL: pg-boss's `SKIP LOCKED` fetch, then a conditional update of the
 * job row that only one worker can win; heartbeats, output and the end are statements on the job row (or
 * its output table) that name the lease token, with the notification in the same statement.
 */
export class PostgresWorkerQueue implements WorkerQueue {
  constructor(readonly connection: QueueConnection) {}

  get description(): string {
    return this.connection.description;
  }

  candidates(): Promise<QueueCandidate[]> {
    return this.connection.queues();
  }

  /**
   * Fetches up to `room` jobs of `queue`, takes their leases at once and confirms their delivery in one
   * call. Throws when no claim got an answer (the database went away).
   */
  async claim(queue: string, room: number, worker: string): Promise<ClaimedJob[]> {
    const { boss } = this.connection;
    const fetched = await boss.fetch<{ jobId: string }>(queue, { batchSize: room });
    if (fetched.length === 0) return [];
    const claims = await Promise.allSettled(
      fetched.map((job) => this.#claimOne(job.data.jobId, queue, worker)),
    );
    // A delivery whose claim was answered is done: the lease (or a cancelled job) decides from here. One
    // whose claim failed (the database went away) stays with pg-boss, which delivers it again after its
    // expiry; so does every one here if confirming fails (a second claim of a job is refused).
    const answered = fetched.filter((_, n) => claims[n]!.status === 'fulfilled').map((job) => job.id);
    if (answered.length > 0) await boss.complete(queue, answered).catch(() => undefined);
    const won: ClaimedJob[] = [];
    for (const claim of claims) {
      if (claim.status === 'fulfilled') {
        if (claim.value !== undefined) won.push(claim.value);
      } else if (answered.length === 0) {
        throw claim.reason;
      }
    }
    return won;
  }

  /** Takes the lease of a queued job; undefined when another worker has it or it was cancelled. */
  async #claimOne(jobId: string, queue: string, worker: string): Promise<ClaimedJob | undefined> {
    const { pool, schema } = this.connection;
    const token = randomUUID();
    const claimedAt = Date.now();
    const { rows } = await pool.query<{
      spec: string;
      lease_ms: number;
      run_id: string | null;
      step_id: string | null;
    }>(
      // The notification goes in the same statement: one round trip per claim.
      `WITH claimed AS (
         UPDATE ${schema}.jobs SET state = 'running', worker = $2, lease_token = $3, claims = claims + 1,
           lease_expires = now() + lease_ms * interval '1 millisecond', updated_at = now()
         WHERE id = $1 AND state = 'queued' RETURNING id, spec, lease_ms, run_id, step_id
       )
       SELECT spec, lease_ms, run_id, step_id, pg_notify('${JOB_CHANNEL}', id) FROM claimed`,
      [jobId, worker, token],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    return {
      id: jobId,
      queue,
      claimedAt,
      spec: JSON.parse(row.spec) as ClaimedJob['spec'],
      token,
      leaseMs: row.lease_ms,
      runId: row.run_id,
      stepId: row.step_id,
    };
  }

  async heartbeat(job: Pick<ClaimedJob, 'id' | 'token'>): Promise<HeartbeatReply> {
    const { schema, pool } = this.connection;
    const { rows } = await pool.query<{ cancel_reason: string | null }>(
      `UPDATE ${schema}.jobs SET lease_expires = now() + lease_ms * interval '1 millisecond'
       WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING cancel_reason`,
      [job.id, job.token],
    );
    const row = rows[0];
    return row === undefined ? { held: false, cancel: null } : { held: true, cancel: row.cancel_reason };
  }

  started(job: Pick<ClaimedJob, 'id' | 'token'>, started: JobStarted): Promise<boolean> {
    return this.#update(job, `started = $3`, [JSON.stringify(started)]);
  }

  async output(
    job: Pick<ClaimedJob, 'id' | 'token'>,
    first: number,
    chunks: readonly OutputChunk[],
  ): Promise<boolean> {
    const { schema, pool } = this.connection;
    // Written again after a lost reply (a restarted server), the same chunk numbers change nothing.
    const { rows } = await pool.query<{ held: boolean }>(
      `WITH lease AS (
         SELECT 1 FROM ${schema}.jobs WHERE id = $1 AND lease_token = $2 AND state = 'running' FOR SHARE
       ), written AS (
         INSERT INTO ${schema}.job_output (job_id, n, stream, data)
         SELECT $1, $3::int + ordinality::int - 1, stream, data
         FROM unnest($4::text[], $5::bytea[]) WITH ORDINALITY AS t(stream, data)
         WHERE EXISTS (SELECT 1 FROM lease)
         ON CONFLICT (job_id, n) DO NOTHING RETURNING 1
       )
       SELECT EXISTS (SELECT 1 FROM lease) AS held, (SELECT count(*) FROM written) AS n`,
      [job.id, job.token, first, chunks.map((c) => c.stream), chunks.map((c) => c.data)],
    );
    const ok = rows[0]?.held === true;
    if (ok) this.connection.notify(JOB_CHANNEL, job.id);
    else await this.#countRefused(job.id);
    return ok;
  }

  end(job: Pick<ClaimedJob, 'id' | 'token'>, end: JobEnd): Promise<boolean> {
    switch (end.kind) {
      case 'exit':
        return this.#update(job, `state = 'exited', exit = $3`, [JSON.stringify(end.exit)], 'exited');
      case 'fail':
        return this.#update(job, `state = 'failed', error = $3`, [JSON.stringify(end.failure)], 'failed');
      case 'hand-back':
        return this.#update(job, `state = 'lost'`, [], 'lost');
    }
  }

  onWork(listener: (queue: string) => void): () => void {
    return this.connection.on(QUEUE_CHANNEL, listener);
  }

  onCancel(listener: (jobId: string) => void): () => void {
    return this.connection.on(CANCEL_CHANNEL, listener);
  }

  /**
   * One conditional update of the job row under the lease. An end written again after its reply was lost
   * (a restarted server or gateway) finds the row already in that state under this lease: accepted.
   */
  async #update(
    job: Pick<ClaimedJob, 'id' | 'token'>,
    set: string,
    values: unknown[],
    endState?: string,
  ): Promise<boolean> {
    const { schema, pool } = this.connection;
    // The notification goes in the same statement: one round trip per write.
    const result = await pool.query(
      `WITH updated AS (
         UPDATE ${schema}.jobs SET ${set}, updated_at = now()
         WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING id
       )
       SELECT pg_notify('${JOB_CHANNEL}', id) FROM updated`,
      [job.id, job.token, ...values],
    );
    if (result.rowCount === 1) return true;
    if (endState !== undefined) {
      const again = await pool.query(
        `SELECT 1 FROM ${schema}.jobs WHERE id = $1 AND lease_token = $2 AND state = $3`,
        [job.id, job.token, endState],
      );
      if (again.rowCount === 1) return true;
    }
    await this.#countRefused(job.id);
    return false;
  }

  async #countRefused(jobId: string): Promise<void> {
    const { schema, pool } = this.connection;
    await pool.query(`UPDATE ${schema}.jobs SET refused = refused + 1 WHERE id = $1`, [jobId]);
  }
}
