import { BeamlineError, isBeamlineError, type BeamlineErrorOptions } from '@beamline/core';

/** Stable codes of the errors this example raises; callers branch on these, never on messages. */
export type AliceErrorCode =
  | 'ALICE_CONFIG_INVALID'
  | 'ALICE_UNAUTHORIZED'
  | 'ALICE_UNREACHABLE'
  | 'ALICE_BAD_RESPONSE'
  | 'ALICE_HTTP_STATUS'
  | 'ALICE_REFUSED'
  | 'ALICE_TASK_INVALID'
  | 'ALICE_UPLOAD_FAILED'
  | 'ALICE_STATE_INVALID'
  | 'ALICE_COORDINATOR_INVALID';

/**
 * Whether each code may pass on a retry: a server that is down or answers 5xx may come back; a
 * refused secret, a malformed configuration or a refused status update will not.
 */
const RETRYABLE: Readonly<Record<AliceErrorCode, boolean>> = {
  ALICE_CONFIG_INVALID: false,
  ALICE_UNAUTHORIZED: false,
  ALICE_UNREACHABLE: true,
  ALICE_BAD_RESPONSE: true,
  ALICE_HTTP_STATUS: true,
  ALICE_REFUSED: false,
  ALICE_TASK_INVALID: false,
  ALICE_UPLOAD_FAILED: true,
  ALICE_STATE_INVALID: false,
  ALICE_COORDINATOR_INVALID: false,
};

/** The one error class of the AliceTraINT example (agent, client and coordinator). */
export class AliceError extends BeamlineError {
  declare readonly code: AliceErrorCode;

  constructor(code: AliceErrorCode, message: string, options: BeamlineErrorOptions = {}) {
    super(code, message, { retryable: RETRYABLE[code], ...options });
    this.name = 'AliceError';
  }
}

/** True for an {@link AliceError} (by shape, so copies of the package agree), optionally of one code. */
export function isAliceError(error: unknown, code?: AliceErrorCode): error is AliceError {
  return (
    isBeamlineError(error) && error.code.startsWith('ALICE_') && (code === undefined || error.code === code)
  );
}
