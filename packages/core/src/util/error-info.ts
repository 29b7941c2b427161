import type { ErrorInfo } from '../contracts/events.js';
import { isBeamlineError, isRetryable } from '../errors/beamline-error.js';

/** The serialisable summary of any thrown value, as events record it. */
export function toErrorInfo(error: unknown): ErrorInfo {
  if (isBeamlineError(error)) return { code: error.code, message: error.message, retryable: error.retryable };
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'CORE_STEP_FAILED', message, retryable: isRetryable(error) };
}

/** `error` itself when it is an Error, else an Error whose message is its string form. */
export function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
