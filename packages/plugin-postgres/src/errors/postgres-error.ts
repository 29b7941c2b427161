import { BeamlineError, isBeamlineError, type BeamlineErrorOptions } from '@beamline/core';

/** Stable codes of the errors `@beamline/plugin-postgres` raises; callers branch on these, never on messages. */
export type PostgresErrorCode =
  | 'POSTGRES_CONFIG_INVALID'
  | 'POSTGRES_ARTIFACT_UNREACHABLE'
  | 'POSTGRES_ARTIFACT_MISSING'
  | 'POSTGRES_ARTIFACT_INVALID'
  | 'POSTGRES_UNREACHABLE'
  | 'POSTGRES_AUTH_FAILED'
  | 'POSTGRES_DATABASE_MISSING'
  | 'POSTGRES_SCHEMA_INCOMPATIBLE'
  | 'POSTGRES_QUERY_FAILED'
  | 'POSTGRES_LEASE_LOST'
  | 'POSTGRES_WORKER_FAILED'
  | 'POSTGRES_WORKDIR_UNREACHABLE'
  | 'POSTGRES_GATEWAY_UNREACHABLE'
  | 'POSTGRES_GATEWAY_REFUSED'
  | 'POSTGRES_GATEWAY_FAILED';

/**
 * Whether each code may succeed on a retry, in one table so the choice is deliberate: a database that
 * is down or restarting comes back; a wrong password, a missing database or a bad URL do not.
 */
const RETRYABLE: Readonly<Record<PostgresErrorCode, boolean>> = {
  POSTGRES_CONFIG_INVALID: false,
  // The artifact share is down or refuses this host's token: another attempt (or worker) may reach it.
  POSTGRES_ARTIFACT_UNREACHABLE: true,
  // An input is not on the share: the coordinator uploads it again before the step's next attempt.
  POSTGRES_ARTIFACT_MISSING: true,
  // A file that does not match its digest (never accepted), or a hostile name in a worker's report.
  POSTGRES_ARTIFACT_INVALID: true,
  POSTGRES_UNREACHABLE: true,
  POSTGRES_AUTH_FAILED: false,
  POSTGRES_DATABASE_MISSING: false,
  POSTGRES_SCHEMA_INCOMPATIBLE: false,
  POSTGRES_QUERY_FAILED: true,
  // Another worker takes the step again (its retry policy permitting).
  POSTGRES_LEASE_LOST: true,
  POSTGRES_WORKER_FAILED: true,
  // Another worker may have the shared folder mounted.
  POSTGRES_WORKDIR_UNREACHABLE: true,
  // The gateway is down or restarting, or the network is cut: it comes back.
  POSTGRES_GATEWAY_UNREACHABLE: true,
  // The gateway refused the worker's token (unknown or revoked) or a request: not on a retry.
  POSTGRES_GATEWAY_REFUSED: false,
  // The gateway answered with an error of its own (its database out of reach).
  POSTGRES_GATEWAY_FAILED: true,
};

/** The error class of `@beamline/plugin-postgres`. `retryable` defaults per code. */
export class PostgresError extends BeamlineError {
  declare readonly code: PostgresErrorCode;

  constructor(code: PostgresErrorCode, message: string, options: BeamlineErrorOptions = {}) {
    super(code, message, { ...options, retryable: options.retryable ?? RETRYABLE[code] });
    this.name = 'PostgresError';
  }
}

/** True for a PostgreSQL plugin error (checks shape, not prototype), optionally with a given code. */
export function isPostgresError(error: unknown, code?: PostgresErrorCode): error is PostgresError {
  return (
    isBeamlineError(error) &&
    error.name === 'PostgresError' &&
    error.code.startsWith('POSTGRES_') &&
    (code === undefined || error.code === code)
  );
}
