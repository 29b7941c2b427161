import { BeamlineError, isBeamlineError, type BeamlineErrorOptions } from '@beamline/core';

/** Stable codes of the errors `@beamline/plugin-inference` raises; callers branch on these, never on messages. */
export type InferenceErrorCode =
  | 'INFERENCE_INVALID_ARGUMENT'
  | 'INFERENCE_NOT_FOUND'
  | 'INFERENCE_NOT_READY'
  | 'INFERENCE_UNSUPPORTED'
  | 'INFERENCE_UNAVAILABLE'
  | 'INFERENCE_QUEUE_FULL'
  | 'INFERENCE_TIMEOUT'
  | 'INFERENCE_CANCELLED'
  | 'INFERENCE_CONFIG_INVALID'
  | 'INFERENCE_MODEL_INVALID'
  | 'INFERENCE_PROVIDER_FAILED'
  | 'INFERENCE_WORKER_FAILED'
  | 'INFERENCE_INTERNAL';

interface CodeFacts {
  /** HTTP status Triton answers for this class of error. */
  status: number;
  retryable: boolean;
}

/**
 * The HTTP status and retryability of each code, in one table (Triton's mapping: INVALID_ARG 400,
 * NOT_FOUND 404, UNAVAILABLE 503, UNSUPPORTED 501, INTERNAL 500).
 */
const FACTS: Readonly<Record<InferenceErrorCode, CodeFacts>> = {
  INFERENCE_INVALID_ARGUMENT: { status: 400, retryable: false },
  INFERENCE_NOT_FOUND: { status: 404, retryable: false },
  // Triton: "Model version not ready" is 400; the model may become ready, so a retry can pass.
  INFERENCE_NOT_READY: { status: 400, retryable: true },
  INFERENCE_UNSUPPORTED: { status: 501, retryable: false },
  INFERENCE_UNAVAILABLE: { status: 503, retryable: true },
  INFERENCE_QUEUE_FULL: { status: 503, retryable: true },
  INFERENCE_TIMEOUT: { status: 503, retryable: true },
  INFERENCE_CANCELLED: { status: 400, retryable: false },
  INFERENCE_CONFIG_INVALID: { status: 400, retryable: false },
  INFERENCE_MODEL_INVALID: { status: 400, retryable: false },
  INFERENCE_PROVIDER_FAILED: { status: 400, retryable: false },
  INFERENCE_WORKER_FAILED: { status: 500, retryable: true },
  INFERENCE_INTERNAL: { status: 500, retryable: false },
};

/** The error class of `@beamline/plugin-inference`. `retryable` defaults per code. */
export class InferenceError extends BeamlineError {
  declare readonly code: InferenceErrorCode;

  constructor(code: InferenceErrorCode, message: string, options: BeamlineErrorOptions = {}) {
    super(code, message, { ...options, retryable: options.retryable ?? FACTS[code].retryable });
    this.name = 'InferenceError';
  }

  /** The HTTP status the servers answer this error with. */
  get httpStatus(): number {
    return FACTS[this.code].status;
  }
}

/** True for an inference plugin error (checks shape, not prototype), optionally with a given code. */
export function isInferenceError(error: unknown, code?: InferenceErrorCode): error is InferenceError {
  return (
    isBeamlineError(error) &&
    error.name === 'InferenceError' &&
    error.code.startsWith('INFERENCE_') &&
    (code === undefined || error.code === code)
  );
}

/** Shorthand for the most common error: a request or file that is not what was expected. */
export function invalid(message: string, options?: BeamlineErrorOptions): InferenceError {
  return new InferenceError('INFERENCE_INVALID_ARGUMENT', message, options);
}
