import { randomBytes } from 'node:crypto';
import { requireService } from '@beamline/core/testing';
import pg from 'pg';

/** The test database (`scripts/setup-test-env.sh` creates it). */
export const TEST_URL =
  process.env.BEAMLINE_TEST_POSTGRES_URL ?? 'postgres://beamline:beamline@127.0.0.1:5432/beamline_test';

/** Whether the test database answers; under CI a missing database fails the tests (requireService). */
export async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: TEST_URL, connectionTimeoutMillis: 5_000 });
  let ok = true;
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch {
    ok = false;
  } finally {
    await client.end().catch(() => undefined);
  }
  return requireService(
    'PostgreSQL',
    ok,
    `Run packages/plugin-postgres/scripts/setup-test-env.sh as root, or set BEAMLINE_TEST_POSTGRES_URL (tried ${TEST_URL.replace(/:[^:@/]*@/, ':***@')}).`,
  );
}

/** Schemas handed out to tests, dropped by {@link dropTestSchemas}. */
const schemas: string[] = [];

/** A new schema name no other test uses. */
export function testSchema(prefix = 't'): string {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  schemas.push(name);
  return name;
}

/** Drops every schema this test file was given. */
export async function dropTestSchemas(): Promise<void> {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: TEST_URL });
  try {
    await client.connect();
    for (const name of schemas.splice(0)) await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
