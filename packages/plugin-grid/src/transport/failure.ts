import { isRetryable } from '@beamline/core';
import { GridError, isGridError } from '../errors/grid-error.js';

/** What the scheduler does after a failed attempt. */
export type FailureAction = 'retry' | 'next-replica' | 'fatal';

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_HAS_EXPIRED',
]);
const LOST_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ERR_STREAM_PREMATURE_CLOSE']);
const IO_CODES = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'EMFILE']);

/**
 * Turns anything a transfer threw into a GridError with a deliberate `retryable` (for errors it does not
 * know, core's `isRetryable`). Node puts
 * the useful code on the error or on its cause; messages are kept free of headers and query strings.
 */
export function toGridError(e: unknown, where: string): GridError {
  if (isGridError(e)) return e;
  const code = errorCode(e);
  const msg = (e as Error | undefined)?.message ?? String(e);
  if (code !== undefined && CONNECT_CODES.has(code)) {
    return new GridError('GRID_CONNECT_FAILED', `${where}: cannot connect (${code})`, {
      cause: e,
      retryable: true,
      details: { errno: code },
    });
  }
  if (code?.startsWith('ERR_SSL') || code?.startsWith('ERR_TLS')) {
    return new GridError('GRID_CONNECT_FAILED', `${where}: TLS handshake failed (${code}: ${msg})`, {
      cause: e,
      retryable: true,
      details: { errno: code },
    });
  }
  if (code !== undefined && LOST_CODES.has(code)) {
    return new GridError('GRID_CONNECTION_LOST', `${where}: connection lost (${code})`, {
      cause: e,
      retryable: true,
      details: { errno: code },
    });
  }
  if (code !== undefined && IO_CODES.has(code)) {
    return new GridError('GRID_IO_FAILED', `${where}: ${msg}`, {
      cause: e,
      retryable: false,
      details: { errno: code },
    });
  }
  // Anything else: core's one rule for unknown errors (transient unless it says otherwise).
  return new GridError('GRID_CONNECTION_LOST', `${where}: ${msg}`, {
    cause: e,
    retryable: isRetryable(e),
    ...(code !== undefined && { details: { errno: code } }),
  });
}

function errorCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let depth = 0; depth < 4 && cur && typeof cur === 'object'; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The GridError for a non-success HTTP status, with the class the status implies. */
export function statusError(status: number, where: string, retryAfterMs: number | undefined): GridError {
  const details = { status, ...(retryAfterMs !== undefined && { retryAfterMs }) };
  if (status === 401 || status === 403) {
    return new GridError('GRID_UNAUTHORIZED', `${where}: HTTP ${status} (credentials refused)`, {
      retryable: false,
      details,
    });
  }
  if (status === 404 || status === 410) {
    return new GridError('GRID_NOT_FOUND', `${where}: HTTP ${status} (no such file on this replica)`, {
      retryable: false,
      details,
    });
  }
  return new GridError('GRID_HTTP_STATUS', `${where}: HTTP ${status}`, {
    retryable: status >= 500 || status === 429 || status === 408,
    details,
  });
}

/**
 * Sorts a failure into the three classes of the retry policy:
 * - retry the same replica (with backoff, resuming): a connection lost mid-body, 429, 503 with
 *   `Retry-After`, 408, a malformed partial response, a file that changed on the server (the retry
 *   starts from zero), an xrdcp failure;
 * - next replica: cannot connect, other 5xx, 503 without `Retry-After`, stalled or silent (no headers,
 *   no body bytes), checksum or size mismatch, 401/403/404 on this replica (the job stops only when
 *   every replica said so);
 * - fatal: local I/O errors, bad credentials files, abort.
 */
export function classifyFailure(e: GridError): FailureAction {
  switch (e.code) {
    case 'GRID_CONNECTION_LOST':
    case 'GRID_BAD_RESPONSE':
    case 'GRID_CONTENT_CHANGED':
    case 'GRID_XRDCP_FAILED':
      return 'retry';
    case 'GRID_HTTP_STATUS': {
      const status = e.details.status as number | undefined;
      const hasRetryAfter = e.details.retryAfterMs !== undefined;
      if (status === 429 || status === 408 || (status === 503 && hasRetryAfter)) return 'retry';
      return 'next-replica';
    }
    case 'GRID_CONNECT_FAILED':
    case 'GRID_STALLED':
    case 'GRID_CHECKSUM_MISMATCH':
    case 'GRID_SIZE_MISMATCH':
    case 'GRID_UNAUTHORIZED':
    case 'GRID_NOT_FOUND':
    case 'GRID_UNSUPPORTED_SCHEME':
    case 'GRID_XRDCP_MISSING':
      return 'next-replica';
    case 'GRID_INPUT_INVALID':
    case 'GRID_DEST_INVALID':
    case 'GRID_DEST_BUSY':
    case 'GRID_REPLICAS_EXHAUSTED':
    case 'GRID_RETRY_TIMEOUT':
    case 'GRID_FILES_FAILED':
    case 'GRID_CREDENTIALS_INVALID':
    case 'GRID_P12_LEGACY':
    case 'GRID_CREDENTIALS_EXPIRED':
    case 'GRID_ABORTED':
    case 'GRID_IO_FAILED':
      return 'fatal';
  }
}
