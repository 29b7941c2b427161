import { HttpError } from './http-error.js';

/** Longest request target accepted (bytes of the raw path), as Apache's default `LimitRequestLine`. */
const MAX_RAW_PATH = 8190;
/** Longest decoded path (PATH_MAX) and segment (NAME_MAX), in UTF-8 bytes. */
const MAX_PATH_BYTES = 4096;
const MAX_SEGMENT_BYTES = 255;
const MAX_SEGMENTS = 128;
// C0 controls, DEL, the path separators of both worlds: never part of a name the share serves.
// eslint-disable-next-line no-control-regex
const FORBIDDEN_IN_NAME = /[\u0000-\u001f\u007f/\\]/;
const HEX = /^[0-9A-Fa-f]{2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A request path split into decoded segments. */
export interface RequestPath {
  /** Decoded segments, each a plain name (no `/`, `\`, NUL, control characters, `.` or `..`). */
  readonly segments: readonly string[];
  /** Whether the path ended with `/`. */
  readonly trailingSlash: boolean;
}

/**
 * Strictly decodes a request target's path: `%XX` escapes decoded to bytes and the bytes to UTF-8 with
 * a fatal decoder (overlong forms like `%c0%ae` and invalid sequences are refused), then each segment is
 * checked. Refused with 400: dot segments (also encoded), an encoded `/` or a `\`, NUL and control
 * characters, malformed escapes, invalid UTF-8, and over-long paths (414). Empty segments (`//`) are
 * dropped. The query string is ignored. An absolute-form target (`http://host/path`) is accepted.
 */
export function parseRequestPath(target: string): RequestPath {
  let path = target;
  if (!path.startsWith('/')) {
    const match = /^https?:\/\/[^/?#]*/i.exec(path);
    if (!match) throw new HttpError(400, 'request target is not a path');
    path = path.slice(match[0].length) || '/';
  }
  const end = path.indexOf('?');
  if (end !== -1) path = path.slice(0, end);
  // A fragment never belongs in a request (RFC 9112 §3.2): refuse it rather than act on a shorter path.
  if (path.includes('#')) throw new HttpError(400, 'a request target must not contain a fragment (#)');
  if (path.length > MAX_RAW_PATH) throw new HttpError(414, 'request path too long');
  const raw = path.split('/');
  const segments: string[] = [];
  let bytes = 0;
  for (const part of raw) {
    if (part === '') continue;
    const segment = decodeSegment(part);
    if (segment === '.' || segment === '..')
      throw new HttpError(400, 'dot segments are not allowed in paths');
    if (FORBIDDEN_IN_NAME.test(segment))
      throw new HttpError(400, 'paths must not contain encoded "/", "\\", NUL or control characters');
    const length = Buffer.byteLength(segment, 'utf8');
    if (length > MAX_SEGMENT_BYTES) throw new HttpError(414, 'a path segment is longer than 255 bytes');
    bytes += length + 1;
    segments.push(segment);
  }
  if (bytes > MAX_PATH_BYTES || segments.length > MAX_SEGMENTS)
    throw new HttpError(414, 'request path too long');
  return { segments, trailingSlash: path.length > 1 && path.endsWith('/') };
}

function decodeSegment(part: string): string {
  if (!part.includes('%')) {
    // Raw non-ASCII in a request line arrives as latin1 code units; refuse what is not ASCII-clean UTF-8.
    if (/[^\u0021-\u007e]/.test(part)) return decodeBytes(Buffer.from(part, 'latin1'));
    return part;
  }
  const bytes: number[] = [];
  for (let index = 0; index < part.length; index += 1) {
    const char = part.charCodeAt(index);
    if (char === 0x25) {
      const hex = part.slice(index + 1, index + 3);
      if (!HEX.test(hex)) throw new HttpError(400, 'malformed percent-escape in path');
      bytes.push(Number.parseInt(hex, 16));
      index += 2;
    } else if (char > 0xff) throw new HttpError(400, 'invalid character in path');
    else bytes.push(char);
  }
  return decodeBytes(Buffer.from(bytes));
}

function decodeBytes(bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new HttpError(400, 'path is not valid UTF-8');
  }
}

/** Percent-encodes one name for a URL path (RFC 3986 unreserved and sub-delims kept, except those that confuse clients). */
export function encodeSegment(name: string): string {
  const encoded = encodeURIComponent(name);
  return UNSAFE_KEPT.test(encoded)
    ? encoded.replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`)
    : encoded;
}
const UNSAFE_KEPT = /[!'()*]/;

/** `/a%20b/c/` from segments. */
export function encodePath(segments: readonly string[], trailingSlash = false): string {
  if (segments.length === 0) return '/';
  return `/${segments.map(encodeSegment).join('/')}${trailingSlash ? '/' : ''}`;
}
