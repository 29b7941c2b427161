import type pg from 'pg';

/**
 * Creates the distributed mode's tables in `schema` (quoted identifier) if they are not there, under an
 * advisory lock. pg-boss keeps its own tables in a schema of its own; these hold what Beamline adds on
 * top: the step work of each pg-boss job with its lease, and the output workers stream back.
 *
 * - `queues`: one pg-boss queue per requirement (runner, capability labels, resource counts), so that a
 *   worker polls only the queues it can serve.
 * - `jobs`: one row per attempt handed to a worker: its process spec, state (`queued`, `running`,
 *   `exited`, `failed`, `lost`, `cancelled`), the lease (holder, token, expiry), a cancel request, what
 *   started (pid, host, GPU ids, and the process record: group, boot id, start time) and how it ended.
 *   Every write of a worker names its lease token, so a worker that lost the lease cannot change the row
 *   any more. `reaped` says what a worker on the process's host found when it stopped the process of a
 *   job whose worker died (`stopped`, `gone`, `unchecked`); null while nobody has looked.
 * - `job_output`: stdout and stderr chunks in order, until the coordinator has read them.
 */
export async function ensureQueueSchema(client: pg.PoolClient, schema: string): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`beamline-queue:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${schema}.queues (
        name text PRIMARY KEY,
        requirement text NOT NULL
      );
      CREATE TABLE IF NOT EXISTS ${schema}.jobs (
        id text PRIMARY KEY,
        queue text NOT NULL,
        run_id text,
        step_id text,
        spec text NOT NULL,
        state text NOT NULL,
        worker text,
        lease_token text,
        lease_ms integer NOT NULL,
        lease_expires timestamptz,
        claims integer NOT NULL DEFAULT 0,
        cancel_reason text,
        started text,
        exit text,
        error text,
        refused integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      ALTER TABLE ${schema}.jobs ADD COLUMN IF NOT EXISTS reaped text;
      CREATE INDEX IF NOT EXISTS jobs_run ON ${schema}.jobs (run_id, step_id);
      CREATE INDEX IF NOT EXISTS jobs_state ON ${schema}.jobs (state);
      CREATE TABLE IF NOT EXISTS ${schema}.job_output (
        job_id text NOT NULL,
        n integer NOT NULL,
        stream text NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (job_id, n)
      );
    `);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
