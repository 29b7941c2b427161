import type pg from 'pg';
import { PostgresError } from '../errors/postgres-error.js';

/** The layout version this code reads and writes; a database with a newer one is refused. */
const SCHEMA_VERSION = 1;

/**
 * Creates the store's tables in `schema` (quoted identifier) if they are not there, under an advisory lock
 * so that several processes opening the same database at once agree. JSON lives in `text` columns, not
 * `jsonb`: `jsonb` reorders object keys, and key order of outputs and step ids is part of the contract.
 */
export async function ensureStoreSchema(client: pg.PoolClient, schema: string): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`beamline-store:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${schema}.meta (name text PRIMARY KEY, value text NOT NULL);
      CREATE TABLE IF NOT EXISTS ${schema}.runs (
        id text PRIMARY KEY,
        ord bigserial NOT NULL,
        pipeline text NOT NULL,
        record text NOT NULL,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        status text NOT NULL,
        last_seq integer NOT NULL DEFAULT 0,
        error text,
        cancel_reason text,
        owner text,
        next_position integer NOT NULL
      );
      CREATE INDEX IF NOT EXISTS runs_created ON ${schema}.runs (created_at DESC, ord DESC);
      CREATE TABLE IF NOT EXISTS ${schema}.run_steps (
        run_id text NOT NULL REFERENCES ${schema}.runs (id) ON DELETE CASCADE,
        step_id text NOT NULL,
        position integer NOT NULL,
        status text NOT NULL,
        state text NOT NULL,
        PRIMARY KEY (run_id, step_id)
      );
      CREATE INDEX IF NOT EXISTS run_steps_position ON ${schema}.run_steps (run_id, position);
      CREATE TABLE IF NOT EXISTS ${schema}.events (
        run_id text NOT NULL REFERENCES ${schema}.runs (id) ON DELETE CASCADE,
        seq integer NOT NULL,
        step_id text,
        type text NOT NULL,
        body text NOT NULL,
        PRIMARY KEY (run_id, seq)
      );
      CREATE INDEX IF NOT EXISTS events_step ON ${schema}.events (run_id, step_id, seq);
      CREATE SEQUENCE IF NOT EXISTS ${schema}.cache_order;
      CREATE TABLE IF NOT EXISTS ${schema}.cache (
        key text PRIMARY KEY,
        scope text NOT NULL,
        run_id text NOT NULL,
        created_at bigint NOT NULL,
        write_order bigint NOT NULL,
        record text NOT NULL
      );
      CREATE INDEX IF NOT EXISTS cache_scope ON ${schema}.cache (scope, created_at DESC, write_order DESC);
    `);
    const found = await client.query<{ value: string }>(
      `SELECT value FROM ${schema}.meta WHERE name = 'schema_version'`,
    );
    const version = found.rows[0] === undefined ? undefined : Number(found.rows[0].value);
    if (version === undefined) {
      await client.query(`INSERT INTO ${schema}.meta (name, value) VALUES ('schema_version', $1)`, [
        String(SCHEMA_VERSION),
      ]);
    } else if (version !== SCHEMA_VERSION) {
      throw new PostgresError(
        'POSTGRES_SCHEMA_INCOMPATIBLE',
        `schema ${schema} holds a Beamline store of layout version ${version}; this version reads layout ${SCHEMA_VERSION}`,
        { details: { schema, found: version, expected: SCHEMA_VERSION } },
      );
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
