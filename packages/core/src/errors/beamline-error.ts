/** Options shared by every Beamline error. */
export interface BeamlineErrorOptions {
  /** Whether retrying the same work may succeed (a checksum mismatch may, a missing image will not). */
  retryable?: boolean;
  /** The underlying error, forwarded as the standard `cause`. */
  cause?: unknown;
  /** Structured facts about the failure (paths, ids, limits); never secrets. */
  details?: Record<string, unknown>;
}

/**
 * Base class of every error Beamline throws. Each package has one subclass with its own code prefix
 * (`CORE_`, `DOCKER_`, `GRID_`); callers branch on `code`, never on the message.
 */
export class BeamlineError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, options: BeamlineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BeamlineError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

/** True for any Beamline error, also one from another copy of the package (checks shape, not prototype). */
export function isBeamlineError(error: unknown): error is BeamlineError {
  return (
    error instanceof Error &&
    typeof (error as { code?: unknown }).code === 'string' &&
    typeof (error as { retryable?: unknown }).retryable === 'boolean'
  );
}

/** Whether an error may be retried: Beamline errors say so; unknown errors are assumed transient. */
export function isRetryable(error: unknown): boolean {
  return isBeamlineError(error) ? error.retryable : true;
}
