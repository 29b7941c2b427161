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

/** System error codes of conditions that pass: the network, a busy or exhausted resource. */
const TRANSIENT_ERRNO = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENETRESET',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'EADDRINUSE',
  'EAGAIN',
  'EBUSY',
  'EMFILE',
  'ENFILE',
  'ENOBUFS',
  'ENOMEM',
  'ESTALE',
]);

/** Errors that mean the code or its input is wrong: the same call fails the same way again. */
const PROGRAMMING_ERRORS = new Set(['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError']);

/**
 * Whether retrying the same work may succeed: the one rule of Beamline, for every package.
 *
 * - A Beamline error (any package's, by shape) carries its own `retryable` flag.
 * - A Node system error (`code` `E…`, from `fs`, `net`, `dns`, `child_process`) is retryable when its
 *   code is a passing condition: network (`ECONNRESET`, `ETIMEDOUT`, `EAI_AGAIN`, …) or a busy or
 *   exhausted resource (`EBUSY`, `EAGAIN`, `EMFILE`, …). Any other system error (`ENOENT`, `EACCES`,
 *   `EISDIR`, `ENOSPC`, …) is about the input or the machine and is not.
 * - Node's own argument errors (`code` `ERR_…`) and `TypeError`, `RangeError`, `ReferenceError`,
 *   `SyntaxError` are bugs or bad input: not retryable, unless they wrap a `cause` (undici's
 *   `TypeError: fetch failed`), which is then judged instead.
 * - An abort (`AbortError`) is not retryable; a `TimeoutError` is.
 * - Anything else, thrown values that are not errors included, is assumed transient: retryable.
 */
export function isRetryable(error: unknown): boolean {
  return retryable(error, 0);
}

function retryable(error: unknown, depth: number): boolean {
  if (isBeamlineError(error)) return error.retryable;
  if (!(error instanceof Error)) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code.startsWith('ERR_')) return false;
    if (/^E[A-Z0-9_]+$/.test(code)) return TRANSIENT_ERRNO.has(code);
  }
  if (error.name === 'AbortError') return false;
  if (error.name === 'TimeoutError') return true;
  if (PROGRAMMING_ERRORS.has(error.name)) {
    // A cause chain that loops is not a reason to recurse for ever.
    return error.cause === undefined || depth > 8 ? false : retryable(error.cause, depth + 1);
  }
  return true;
}
