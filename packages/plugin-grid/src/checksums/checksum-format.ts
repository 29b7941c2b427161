/** The checksum algorithms plugin-grid computes and verifies. */
export type ChecksumAlgorithm = 'adler32' | 'md5' | 'sha256';

/** Expected or computed checksums, as lower-case hex. */
export type Checksums = Partial<Record<ChecksumAlgorithm, string>>;

/** All algorithms, in the order they are preferred for verification and cache keys. */
export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = ['sha256', 'adler32', 'md5'];

const HEX_LENGTH: Record<ChecksumAlgorithm, number> = { adler32: 8, md5: 32, sha256: 64 };

/** Maps the names used by Metalink, RFC 3230 and catalogues onto ours; undefined for others. */
export function normalizeAlgorithm(name: string): ChecksumAlgorithm | undefined {
  const n = name.trim().toLowerCase().replace(/[-_]/g, '');
  if (n === 'adler32') return 'adler32';
  if (n === 'md5') return 'md5';
  if (n === 'sha256') return 'sha256';
  return undefined;
}

/**
 * Normalises a checksum to lower-case hex of the algorithm's length, or undefined when the value
 * cannot be one. Accepts hex (adler32 missing its leading zeros, a recurring catalogue bug, is padded)
 * and base64 (RFC 3230 sends md5/sha as base64). A value of the wrong length is rejected rather than
 * guessed at: a stale or mislabelled server digest must not pass as ours.
 */
export function normalizeChecksum(algorithm: ChecksumAlgorithm, value: string): string | undefined {
  const v = value.trim();
  const len = HEX_LENGTH[algorithm];
  if (/^[0-9a-fA-F]+$/.test(v)) {
    if (v.length === len) return v.toLowerCase();
    if (algorithm === 'adler32' && v.length < len) return v.toLowerCase().padStart(len, '0');
  }
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(v)) {
    const bytes = Buffer.from(v, 'base64');
    if (bytes.length * 2 === len) return bytes.toString('hex');
  }
  return undefined;
}

/** Normalises every entry of a checksum record; throws a readable message for an invalid one. */
export function normalizeChecksums(input: Record<string, string | undefined>): Checksums {
  const out: Checksums = {};
  for (const [name, value] of Object.entries(input)) {
    if (value === undefined || value === '') continue;
    const alg = normalizeAlgorithm(name);
    if (alg === undefined) continue;
    const norm = normalizeChecksum(alg, value);
    if (norm === undefined) throw new Error(`invalid ${alg} checksum "${value}"`);
    out[alg] = norm;
  }
  return out;
}

/** The algorithms on which `expected` and `actual` disagree (only those present in both). */
export function checksumMismatches(expected: Checksums, actual: Checksums): ChecksumAlgorithm[] {
  const bad: ChecksumAlgorithm[] = [];
  for (const alg of CHECKSUM_ALGORITHMS) {
    const e = expected[alg];
    const a = actual[alg];
    if (e !== undefined && a !== undefined && e !== a) bad.push(alg);
  }
  return bad;
}
