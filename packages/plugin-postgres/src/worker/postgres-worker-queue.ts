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
   * Fetches up to `room` jobs of `queue`, takes their leases in one statement and confirms their delivery
   * in one call. Throws when the claim got no answer (the database went away): the deliveries then stay
   * with pg-boss, which delivers them again after their expiry.
   */
  async claim(queue: string, room: number, worker: string): Promise<ClaimedJob[]> {
    const { boss } = this.connection;
    const fetched = await boss.fetch<{ jobId: string }>(queue, { batchSize: room });
    if (fetched.length === 0) return [];
    const won = await this.#claimAll(
      fetched.map((job) => job.data.jobId),
      queue,
      worker,
    );
    // Answered, every delivery is done: the lease (or a cancelled job) decides from here. If confirming
    // fails they are delivered again, and a second claim of a job is refused.
    await boss
      .complete(
        queue,
        fetched.map((job) => job.id),
      )
      .catch(() => undefined);
    return won;
  }

  /**
   * Takes the leases of those of the jobs that are still queued (not another worker's, not cancelled),
   * each with a token of its own. Rows are locked in id order, so two workers claiming overlapping sets
   * (a message delivered twice) wait for each other rather than deadlock; the second finds it taken.
   */
  async #claimAll(jobIds: readonly string[], queue: string, worker: string): Promise<ClaimedJob[]> {
    const { pool, schema } = this.connection;
    const claimedAt = Date.now();
    const { rows } = await pool.query<{
      id: string;
      spec: string;
      lease_ms: number;
      run_id: string | null;
      step_id: string | null;
      lease_token: string;
    }>(
      // No notification: only the coordinator listens for a job's changes, and a claim changes nothing it
      // passes on (the worker's `started`, which follows, does).
      `WITH claimed AS (
         UPDATE ${schema}.jobs SET state = 'running', worker = $2, lease_token = gen_random_uuid()::text,
           claims = claims + 1, lease_expires = now() + lease_ms * interval '1 millisecond', updated_at = now()
         WHERE id IN (SELECT id FROM ${schema}.jobs WHERE id = ANY($1::text[]) AND state = 'queued'
                      ORDER BY id FOR UPDATE)
           AND state = 'queued'
         RETURNING id, spec, lease_ms, run_id, step_id, lease_token
       )
       SELECT id, spec, lease_ms, run_id, step_id, lease_token FROM claimed`,
      [[...new Set(jobIds)].sort(), worker],
    );
    return rows.map((row) => ({
      id: row.id,
      queue,
      claimedAt,
      spec: JSON.parse(row.spec) as ClaimedJob['spec'],
      token: row.lease_token,
      leaseMs: row.lease_ms,
      runId: row.run_id,
      stepId: row.step_id,
    }));
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
