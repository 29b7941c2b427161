import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay } from '@beamline/core';
import pg from 'pg';
import { PostgresError } from '../errors/postgres-error.js';

/** How to reach the database. */
export interface ConnectionOptions {
  /**
   * `postgres://user:password@host:5432/database` (or `postgresql://`); a Unix socket folder as
   * `postgres:///database?host=/var/run/postgresql`.
   */
  url: string;
  /** Most connections this process opens at once (default 10). */
  maxConnections?: number;
  /** How long opening a connection may take, in milliseconds (default 10,000). */
  connectTimeoutMs?: number;
  /**
   * Whether a commit waits for the server's WAL flush (`synchronous_commit`, default false). Either way a
   * committed write survives `kill -9` of this process and a clean restart of the server, which the core's
   * Store contract asks for (the embedded SQLite store makes the same choice, `synchronous=NORMAL`); only a
   * crash of the database server itself (or its host) may then lose the last fraction of a second of
   * commits. `true` waits for the flush: several milliseconds more per step on a busy disk.
   */
  synchronousCommit?: boolean;
  /** Told about a connection that failed while idle (the server restarted); the pool replaces it. */
  onIdleError?: (error: Error) => void;
}

/** A URL as it may be shown: without its password. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/** Checks that a connection URL is one PostgreSQL's clients accept; `where` names the option. */
function checkUrl(url: unknown, where: string): string {
  if (typeof url !== 'string' || url === '') {
    throw new PostgresError(
      'POSTGRES_CONFIG_INVALID',
      `${where}: expected a postgres:// URL, got ${JSON.stringify(url)}`,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PostgresError(
      'POSTGRES_CONFIG_INVALID',
      `${where}: "${redactUrl(url)}" is not a URL; expected postgres://user:password@host:5432/database`,
    );
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new PostgresError(
      'POSTGRES_CONFIG_INVALID',
      `${where}: expected a postgres:// or postgresql:// URL, got the scheme "${parsed.protocol}"`,
    );
  }
  return url;
}

/**
 * A connection pool whose first connection has been made, so that a wrong password, a missing database
 * or an unreachable server is a clear error here rather than at the first query.
 *
 * @throws PostgresError `POSTGRES_UNREACHABLE`, `POSTGRES_AUTH_FAILED`, `POSTGRES_DATABASE_MISSING`,
 *   `POSTGRES_CONFIG_INVALID`
 */
export async function openPool(options: ConnectionOptions): Promise<pg.Pool> {
  const url = checkUrl(options.url, 'url');
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
    ...(options.synchronousCommit === true ? {} : { options: '-c synchronous_commit=off' }),
    // A backend that the server killed, or a restart, must not crash the process.
    allowExitOnIdle: true,
  });
  pool.on('error', (error) => options.onIdleError?.(error));
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw connectError(error, url);
  }
  return pool;
}

/** A failure to connect, said for what it is. */
function connectError(error: unknown, url: string): PostgresError {
  const shown = redactUrl(url);
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === '28P01' || code === '28000') {
    return new PostgresError(
      'POSTGRES_AUTH_FAILED',
      `PostgreSQL at ${shown} refused the login: ${message} (check the user and password in the URL)`,
      { cause: error, details: { url: shown, sqlState: code } },
    );
  }
  if (code === '3D000') {
    return new PostgresError(
      'POSTGRES_DATABASE_MISSING',
      `PostgreSQL at ${shown}: ${message} (create it with createdb, or fix the database name in the URL)`,
      { cause: error, details: { url: shown, sqlState: code } },
    );
  }
  return new PostgresError(
    'POSTGRES_UNREACHABLE',
    `PostgreSQL at ${shown} cannot be reached: ${message === '' ? (typeof code === 'string' ? code : 'no answer') : message}`,
    { cause: error, details: { url: shown, ...(typeof code === 'string' ? { errno: code } : {}) } },
  );
}

/** Runs `work` in one transaction on one connection: committed when it resolves, rolled back when it throws. */
export async function transaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A connection that dies while checked out (a server restart between two queries) emits `error`; the
  // query in flight rejects anyway, so the event itself must not crash the process.
  const ignore = (): void => undefined;
  client.on('error', ignore);
  let broken = false;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw error;
  } finally {
    client.off('error', ignore);
    client.release(broken);
  }
}

/** A schema name as SQL: only plain lower-case identifiers are accepted, so quoting is never ambiguous. */
export function schemaIdentifier(schema: unknown, where: string): string {
  if (typeof schema !== 'string' || !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new PostgresError(
      'POSTGRES_CONFIG_INVALID',
      `${where}: expected a schema name of lower-case letters, digits and _ (at most 63, not starting with a digit), got ${JSON.stringify(schema)}`,
    );
  }
  return `"${schema}"`;
}

/** SQLSTATE classes and codes of a server that is going away or not there yet: the next try may work. */
const TRANSIENT_SQLSTATE = /^(08|57P0[1-3]|53300)/;
const TRANSIENT_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTCONN',
  'EAI_AGAIN',
]);

/**
 * Whether a failed query may work when tried again on a new connection: the server restarting or
 * unreachable for a moment, a connection cut. A query the server refused (a constraint, a syntax error)
 * is not.
 */
export function isTransientDatabaseError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (TRANSIENT_SQLSTATE.test(code) || TRANSIENT_ERRNO.has(code))) return true;
  return /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(
    error.message,
  );
}

/**
 * Runs `work` again while it fails transiently (see {@link isTransientDatabaseError}), with backoff, for
 * at most `forMs`; then (or for any other error) rejects with the last error.
 */
export async function retryTransient<T>(work: () => Promise<T>, forMs: number): Promise<T> {
  const giveUpAt = Date.now() + forMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!isTransientDatabaseError(error) || Date.now() >= giveUpAt) throw error;
      const delay = backoffDelay(
        { initialDelayMs: 100, coefficient: 2, maxDelayMs: 2_000, jitter: 0.2 },
        attempt,
      );
      await sleep(Math.min(delay, Math.max(0, giveUpAt - Date.now())));
    }
  }
}
