import { BeamlineError, isBeamlineError, type BeamlineErrorOptions } from '@beamline/core';

/** Stable codes of the errors plugin-grid raises. */
export type GridErrorCode =
  /** A file list, Metalink or AliceTraINT input could not be read or is invalid. */
  | 'GRID_INPUT_INVALID'
  /**
   * A destination path escapes the destination directory, collides with another file (or its `.part`),
   * or reaches through a symbolic link inside the destination directory.
   */
  | 'GRID_DEST_INVALID'
  /** Another live process is downloading into the same destination directory (its pid is named). */
  | 'GRID_DEST_BUSY'
  /** A replica URL uses a scheme no driver handles, or a redirect leads to a URL that is not http(s). */
  | 'GRID_UNSUPPORTED_SCHEME'
  /** `root://` replicas need `xrdcp`, which is not installed. */
  | 'GRID_XRDCP_MISSING'
  /** `xrdcp` exited non-zero. */
  | 'GRID_XRDCP_FAILED'
  /** Could not connect (refused, unreachable, DNS, TLS handshake). */
  | 'GRID_CONNECT_FAILED'
  /** The connection broke mid-body (reset, closed, short read). */
  | 'GRID_CONNECTION_LOST'
  /** The server answered with an HTTP status that is not a success (or redirected too often). */
  | 'GRID_HTTP_STATUS'
  /** 401 / 403, or a TLS alert refusing the client certificate: the credentials were refused. */
  | 'GRID_UNAUTHORIZED'
  /** 404 / 410: the replica does not hold the file. */
  | 'GRID_NOT_FOUND'
  /** A partial response did not match the request (status, Content-Range, byte count). */
  | 'GRID_BAD_RESPONSE'
  /** The transfer ran below the minimum rate for too long. */
  | 'GRID_STALLED'
  /** The replica's file changed (validator differs) since the `.part` began; the `.part` was discarded. */
  | 'GRID_CONTENT_CHANGED'
  /** The received bytes do not have the expected size. */
  | 'GRID_SIZE_MISMATCH'
  /** The received bytes do not have the expected checksum. */
  | 'GRID_CHECKSUM_MISMATCH'
  /** Every replica of a file failed. */
  | 'GRID_REPLICAS_EXHAUSTED'
  /** The bounded retry time of a file ran out. */
  | 'GRID_RETRY_TIMEOUT'
  /** One or more files of a job failed (details name them). */
  | 'GRID_FILES_FAILED'
  /** A client certificate or key could not be loaded. */
  | 'GRID_CREDENTIALS_INVALID'
  /** A legacy-encrypted `.p12` that OpenSSL 3 refuses. */
  | 'GRID_P12_LEGACY'
  /** The bearer token or certificate has expired, or expires before the transfer can end. */
  | 'GRID_CREDENTIALS_EXPIRED'
  /** The transfer was aborted by the caller; `.part` files are kept for resume. */
  | 'GRID_ABORTED'
  /** A local file-system operation failed (disk full, permissions). */
  | 'GRID_IO_FAILED';

/** The error class of `@beamline/plugin-grid`. */
export class GridError extends BeamlineError {
  declare readonly code: GridErrorCode;

  constructor(code: GridErrorCode, message: string, options: BeamlineErrorOptions = {}) {
    super(code, message, options);
    this.name = 'GridError';
  }
}

/** True for a grid error, optionally with a given code (checks shape, so it works across package copies). */
export function isGridError(error: unknown, code?: GridErrorCode): error is GridError {
  return (
    isBeamlineError(error) &&
    error.name === 'GridError' &&
    error.code.startsWith('GRID_') &&
    (code === undefined || error.code === code)
  );
}
