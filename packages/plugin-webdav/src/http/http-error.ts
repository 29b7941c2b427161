/**
 * A request refused before or while it is handled: the status, a short reason (sent as plain text and
 * logged), extra headers (a challenge, `Retry-After`) and, for WebDAV preconditions, an XML error body.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string | readonly string[]>> = {},
    /** An RFC 4918 `DAV:error` condition element (`<D:lock-token-submitted/>`), sent as the body. */
    readonly condition?: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** True for an {@link HttpError}. */
export function isHttpError(error: unknown): error is HttpError {
  return error instanceof HttpError;
}
