import type { ErrorInfo } from '../contracts/events.js';
import { isBeamlineError } from '../errors/beamline-error.js';

/** The serialisable summary of any thrown value, as events record it. */
export function toErrorInfo(error: unknown): ErrorInfo {
  if (isBeamlineError(error)) return { code: error.code, message: error.message, retryable: error.retryable };
  if (error instanceof Error) return { code: 'CORE_STEP_FAILED', message: error.message, retryable: true };
  return { code: 'CORE_STEP_FAILED', message: String(error), retryable: true };
}
