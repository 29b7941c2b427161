import { GridError } from '../errors/grid-error.js';
import { parseRetryAfter } from '../schedule/backoff.js';
import { statusError } from './failure.js';
import { headerValue, parseContentRange, strongEtag } from './http-headers.js';
import type { HttpResponse } from './http1/client.js';
import type { HttpHeaders } from './http1/parse.js';

/**
 * What identifies the version of a file a response carries: its strong ETag, else its Last-Modified
 * (a weak ETag may stay the same across changes, RFC 9110 8.8.1). Undefined when the server sends neither.
 */
export function responseValidator(headers: HttpHeaders): string | undefined {
  return strongEtag(headerValue(headers.etag)) ?? headerValue(headers['last-modified']);
}

/** The error for an unexpected status (body drained first, so the socket can be reused). */
export async function unexpectedStatus(res: HttpResponse, where: string): Promise<GridError> {
  await res.body.dump();
  return statusError(res.statusCode, where, parseRetryAfter(headerValue(res.headers['retry-after'])));
}

/**
 * The error for a response whose file version differs from the one the `.part` holds (after the body is
 * drained). The caller discards the `.part`: the retry starts from zero.
 */
export async function contentChanged(
  res: HttpResponse,
  where: string,
  had: string | undefined,
  got: string | undefined,
): Promise<GridError> {
  await res.body.dump();
  const what =
    res.statusCode === 412
      ? 'HTTP 412 (precondition failed)'
      : res.statusCode === 416
        ? 'HTTP 416 (range not satisfiable: the file is shorter than the .part)'
        : `validator ${got ?? '(none)'} instead of ${had ?? '(none)'}`;
  return new GridError(
    'GRID_CONTENT_CHANGED',
    `${where}: the file changed on the server since the .part began (${what}); starting over`,
    {
      retryable: true,
      details: { status: res.statusCode },
    },
  );
}

/** The length a 416 reports (`Content-Range: bytes *\/<length>`), when it does. */
export function unsatisfiedRangeTotal(headers: HttpHeaders): number | undefined {
  const m = /^\s*bytes\s+\*\/(\d{1,15})\s*$/i.exec(headerValue(headers['content-range']) ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * Validates a 206 against the request: Content-Range start equal to the offset asked for, end equal to
 * the end asked for (or the last byte), total equal to the expected size, Content-Length consistent,
 * and never an empty body. Returns the body length to expect.
 */
export async function checkPartial(
  res: HttpResponse,
  where: string,
  start: number,
  size: number | undefined,
  end?: number,
): Promise<number> {
  const field = res.headers['content-range'];
  // Several different Content-Ranges: which bytes these are is not known, so none is taken.
  const raw = Array.isArray(field) && new Set(field).size > 1 ? field.join(', ') : headerValue(field);
  const cr = Array.isArray(field) && new Set(field).size > 1 ? undefined : parseContentRange(raw);
  const wantEnd = end ?? (size !== undefined ? size - 1 : undefined);
  const problem =
    cr === undefined
      ? `missing or malformed Content-Range "${raw ?? ''}"`
      : cr.start !== start
        ? `Content-Range starts at ${cr.start}, asked for ${start}`
        : wantEnd !== undefined && cr.end !== wantEnd
          ? `Content-Range ends at ${cr.end}, asked for ${wantEnd}`
          : size !== undefined && cr.total !== undefined && cr.total !== size
            ? `Content-Range total ${cr.total}, expected ${size}`
            : undefined;
  const len = res.contentLength;
  const expected = cr ? cr.end - cr.start + 1 : 0;
  const lenProblem =
    problem === undefined && len !== undefined && len !== expected
      ? `Content-Length ${len} does not match Content-Range (${expected})`
      : undefined;
  const empty =
    problem === undefined && lenProblem === undefined && len === 0
      ? 'empty 206 (old XrdHttp answers open-ended ranges this way)'
      : undefined;
  const why = problem ?? lenProblem ?? empty;
  if (why !== undefined) {
    await res.body.dump();
    throw new GridError('GRID_BAD_RESPONSE', `${where}: invalid partial response: ${why}`, {
      retryable: true,
    });
  }
  return expected;
}
