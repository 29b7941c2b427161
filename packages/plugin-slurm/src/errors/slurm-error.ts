import { BeamlineError, isBeamlineError, type BeamlineErrorOptions } from '@beamline/core';

/** Stable codes of the errors `@beamline/plugin-slurm` raises; callers branch on these, never on messages. */
export type SlurmErrorCode =
  | 'SLURM_CONFIG_INVALID'
  | 'SLURM_UNREACHABLE'
  | 'SLURM_CONTROLLER_UNAVAILABLE'
  | 'SLURM_TOKEN_MISSING'
  | 'SLURM_TOKEN_EXPIRED'
  | 'SLURM_TOKEN_REJECTED'
  | 'SLURM_API_UNSUPPORTED'
  | 'SLURM_API_ERROR'
  | 'SLURM_SPEC_UNSUPPORTED'
  | 'SLURM_PARTITION_UNKNOWN'
  | 'SLURM_ACCOUNT_INVALID'
  | 'SLURM_QOS_INVALID'
  | 'SLURM_RESOURCES_UNAVAILABLE'
  | 'SLURM_SUBMIT_FAILED'
  | 'SLURM_SPAWN_FAILED'
  | 'SLURM_JOB_FAILED'
  | 'SLURM_NODE_FAILED'
  | 'SLURM_PREEMPTED'
  | 'SLURM_TIME_LIMIT'
  | 'SLURM_JOB_CANCELLED'
  | 'SLURM_JOB_LOST'
  | 'SLURM_OUTPUT_UNREADABLE';

/**
 * Whether each code may succeed on a retry of the same work, in one table so the choice is deliberate:
 * an unreachable server, a restarting controller, a failed node and a preemption pass; a bad token, an
 * unknown partition or account, a request the partition can never grant, or a missing program do not.
 */
const RETRYABLE: Readonly<Record<SlurmErrorCode, boolean>> = {
  SLURM_CONFIG_INVALID: false,
  SLURM_UNREACHABLE: true,
  SLURM_CONTROLLER_UNAVAILABLE: true,
  SLURM_TOKEN_MISSING: false,
  SLURM_TOKEN_EXPIRED: false,
  SLURM_TOKEN_REJECTED: false,
  SLURM_API_UNSUPPORTED: false,
  SLURM_API_ERROR: true,
  SLURM_SPEC_UNSUPPORTED: false,
  SLURM_PARTITION_UNKNOWN: false,
  SLURM_ACCOUNT_INVALID: false,
  SLURM_QOS_INVALID: false,
  SLURM_RESOURCES_UNAVAILABLE: false,
  SLURM_SUBMIT_FAILED: false,
  SLURM_SPAWN_FAILED: false,
  // Launch failures (a node that could not start the batch script) usually pass.
  SLURM_JOB_FAILED: true,
  SLURM_NODE_FAILED: true,
  SLURM_PREEMPTED: true,
  // Slurm's own limit (the partition's, or --time without a step timeout): the same limit is hit again.
  SLURM_TIME_LIMIT: false,
  // Someone cancelled the job outside Beamline (scancel, an administrator): their decision stands.
  SLURM_JOB_CANCELLED: false,
  SLURM_JOB_LOST: true,
  SLURM_OUTPUT_UNREADABLE: false,
};

/** The error class of `@beamline/plugin-slurm`. `retryable` defaults per code (see `RETRYABLE`). */
export class SlurmError extends BeamlineError {
  declare readonly code: SlurmErrorCode;

  constructor(code: SlurmErrorCode, message: string, options: BeamlineErrorOptions = {}) {
    super(code, message, { ...options, retryable: options.retryable ?? RETRYABLE[code] });
    this.name = 'SlurmError';
  }
}

/** True for a Slurm plugin error (checks shape, not prototype), optionally with a given code. */
export function isSlurmError(error: unknown, code?: SlurmErrorCode): error is SlurmError {
  return (
    isBeamlineError(error) &&
    error.name === 'SlurmError' &&
    error.code.startsWith('SLURM_') &&
    (code === undefined || error.code === code)
  );
}
