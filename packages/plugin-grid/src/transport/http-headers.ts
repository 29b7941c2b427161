import {
  normalizeAlgorithm,
  normalizeChecksum,
  type ChecksumAlgorithm,
  type Checksums,
} from '../checksums/checksum-format.js';

/** A parsed `Content-Range: bytes start-end/total` (`total` undefined for `*`). */
export interface ContentRange {
  start: number;
  /** Inclusive. */
  end: number;
  total: number | undefined;
}

/** Parses a byte `Content-Range`; undefined when it is missing or malformed. */
export function parseContentRange(value: string | undefined): ContentRange | undefined {
  const m = value === undefined ? null : /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(value);
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  if (end < start || (total !== undefined && end >= total)) return undefined;
  return { start, end, total };
}

/**
 * Reads an RFC 3230 `Digest` header, keeping only the algorithms that were asked for and values of the
 * right length. Old XrdHttp servers send back a stale Digest from an earlier request under the wrong
 * name (`SHA-512=<adler32 in base64>`), so anything not requested or malformed is dropped.
 */
export function parseDigestHeader(
  value: string | undefined,
  requested: readonly ChecksumAlgorithm[],
): Checksums {
  const out: Checksums = {};
  if (!value) return out;
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const alg = normalizeAlgorithm(part.slice(0, eq));
    if (alg === undefined || !requested.includes(alg)) continue;
    const norm = normalizeChecksum(alg, part.slice(eq + 1));
    if (norm !== undefined) out[alg] = norm;
  }
  return out;
}

/** The `Want-Digest` value for the algorithms we can check. */
export function wantDigest(algs: readonly ChecksumAlgorithm[]): string {
  const names: Record<ChecksumAlgorithm, string> = { adler32: 'adler32', md5: 'md5', sha256: 'sha-256' };
  return algs.map((a) => names[a]).join(', ');
}

/** A strong ETag usable in `If-Range` (weak ones may not be, RFC 9110 13.1.5). */
export function strongEtag(etag: string | undefined): string | undefined {
  return etag !== undefined && !etag.startsWith('W/') ? etag : undefined;
}

/** Header value as one string (a repeated field gives an array: the first counts). */
export function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** A URL without credentials and query values, for logs and events (envelopes and tokens live there). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    for (const k of [...u.searchParams.keys()]) u.searchParams.set(k, '***');
    return u.toString().replace(/%2A%2A%2A/g, '***');
  } catch {
    return url.replace(/\?.*$/, '?***');
  }
}
