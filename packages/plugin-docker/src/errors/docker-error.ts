import { BeamlineError, isBeamlineError, type BeamlineErrorOptions } from '@beamline/core';

/** Stable codes of the errors `@beamline/plugin-docker` raises; callers branch on these, never on messages. */
export type DockerErrorCode =
  | 'DOCKER_DAEMON_UNAVAILABLE'
  | 'DOCKER_IMAGE_NOT_FOUND'
  | 'DOCKER_IMAGE_REF_INVALID'
  | 'DOCKER_REGISTRY_UNREACHABLE'
  | 'DOCKER_PULL_FAILED'
  | 'DOCKER_BUILD_FAILED'
  | 'DOCKER_LOAD_FAILED'
  | 'DOCKER_NAME_CONFLICT'
  | 'DOCKER_NO_COMMAND'
  | 'DOCKER_MOUNT_SOURCE_MISSING'
  | 'DOCKER_GPU_UNAVAILABLE'
  | 'DOCKER_SPEC_INVALID'
  | 'DOCKER_SPEC_NOT_APPLIED'
  | 'DOCKER_START_FAILED'
  | 'DOCKER_OOM_KILLED'
  | 'DOCKER_TIMED_OUT'
  | 'DOCKER_CANCELLED'
  | 'DOCKER_EXIT_NONZERO'
  | 'DOCKER_API_ERROR';

/**
 * Whether each code may succeed on a retry of the same work. Kept in one table so the choice is
 * deliberate and reviewable: daemon and registry outages are transient; a bad spec, a missing image or
 * mount, or a failing build will fail again.
 */
const RETRYABLE: Readonly<Record<DockerErrorCode, boolean>> = {
  DOCKER_DAEMON_UNAVAILABLE: true,
  DOCKER_IMAGE_NOT_FOUND: false,
  DOCKER_IMAGE_REF_INVALID: false,
  DOCKER_REGISTRY_UNREACHABLE: true,
  DOCKER_PULL_FAILED: false,
  DOCKER_BUILD_FAILED: false,
  DOCKER_LOAD_FAILED: false,
  // A clash with a name still being removed clears by itself; a live clash is the caller's to fix.
  DOCKER_NAME_CONFLICT: false,
  DOCKER_NO_COMMAND: false,
  DOCKER_MOUNT_SOURCE_MISSING: false,
  DOCKER_GPU_UNAVAILABLE: false,
  DOCKER_SPEC_INVALID: false,
  DOCKER_SPEC_NOT_APPLIED: false,
  DOCKER_START_FAILED: false,
  // The same limit will be hit again; a retry policy that raises memory must opt in explicitly.
  DOCKER_OOM_KILLED: false,
  // A time limit may be hit because the shared host was busy.
  DOCKER_TIMED_OUT: true,
  DOCKER_CANCELLED: false,
  DOCKER_EXIT_NONZERO: false,
  DOCKER_API_ERROR: true,
};

/** The error class of `@beamline/plugin-docker`. `retryable` defaults per code (see `RETRYABLE`). */
export class DockerError extends BeamlineError {
  declare readonly code: DockerErrorCode;

  constructor(code: DockerErrorCode, message: string, options: BeamlineErrorOptions = {}) {
    super(code, message, { ...options, retryable: options.retryable ?? RETRYABLE[code] });
    this.name = 'DockerError';
  }
}

/** True for a Docker plugin error (checks shape, not prototype), optionally with a given code. */
export function isDockerError(error: unknown, code?: DockerErrorCode): error is DockerError {
  return (
    isBeamlineError(error) &&
    error.name === 'DockerError' &&
    error.code.startsWith('DOCKER_') &&
    (code === undefined || error.code === code)
  );
}
