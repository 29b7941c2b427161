import { BeamlineError, isBeamlineError, type BeamlineErrorOptions } from '@beamline/core';

/** Stable codes of the errors plugin-webdav raises. */
export type WebdavErrorCode =
  /** A shares configuration (file or object) is invalid; the message names the place and what was expected. */
  | 'WEBDAV_CONFIG_INVALID'
  /** A shares configuration file could not be read. */
  | 'WEBDAV_CONFIG_UNREADABLE'
  /** The installed webdav-server is not the patched 2.6.3 this plugin requires (run `npm install`). */
  | 'WEBDAV_ENGINE_UNPATCHED'
  /** The server could not listen (address in use, TLS files unreadable) or its state could not be opened. */
  | 'WEBDAV_START_FAILED'
  /** `webdav.publish`: the share, the source or the destination is invalid, or the copy failed. */
  | 'WEBDAV_PUBLISH_FAILED'
  /** A password hash could not be made or read. */
  | 'WEBDAV_HASH_INVALID';

/** The error class of `@beamline/plugin-webdav`. */
export class WebdavError extends BeamlineError {
  declare readonly code: WebdavErrorCode;

  constructor(code: WebdavErrorCode, message: string, options: BeamlineErrorOptions = {}) {
    super(code, message, options);
    this.name = 'WebdavError';
  }
}

/** True for a WebDAV plugin error, optionally with a given code (checks shape, so it works across package copies). */
export function isWebdavError(error: unknown, code?: WebdavErrorCode): error is WebdavError {
  return (
    isBeamlineError(error) &&
    error.name === 'WebdavError' &&
    error.code.startsWith('WEBDAV_') &&
    (code === undefined || error.code === code)
  );
}
