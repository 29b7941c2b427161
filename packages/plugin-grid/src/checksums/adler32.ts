const BASE = 65521;
/** Largest n such that 255n(n+1)/2 + (n+1)(BASE-1) fits in 2^32-1: the modulo can wait this long. */
const NMAX = 5552;

/** The adler32 of the empty input: the seed of a new computation. */
export const ADLER32_INIT = 1;

/**
 * Continues an adler32 over `data` from the running value `adler` (unsigned). The running value is the
 * whole state, so it can be saved and resumed. The inner loop defers the modulo for NMAX bytes, which
 * is what makes a plain-JS adler32 run at memory speed.
 */
export function adler32Update(adler: number, data: Uint8Array): number {
  let a = adler & 0xffff;
  let b = (adler >>> 16) & 0xffff;
  const len = data.length;
  let i = 0;
  while (i < len) {
    const end = Math.min(i + NMAX, len);
    // Unrolled by 4: fewer loop-condition checks in the hottest loop of the plugin.
    const end4 = end - 3;
    for (; i < end4; i += 4) {
      a += data[i]!;
      b += a;
      a += data[i + 1]!;
      b += a;
      a += data[i + 2]!;
      b += a;
      a += data[i + 3]!;
      b += a;
    }
    for (; i < end; i++) {
      a += data[i]!;
      b += a;
    }
    a %= BASE;
    b %= BASE;
  }
  return ((b << 16) | a) >>> 0;
}

/** adler32 of a whole buffer. */
export function adler32(data: Uint8Array): number {
  return adler32Update(ADLER32_INIT, data);
}

/**
 * The adler32 of the concatenation A‖B from adler32(A), adler32(B) and B's length (zlib's
 * `adler32_combine`); lets segments downloaded in parallel be checked without reading the file again.
 */
export function adler32Combine(a1: number, a2: number, len2: number): number {
  const rem = len2 % BASE;
  let s1 = a1 & 0xffff;
  let s2 = (rem * s1) % BASE;
  s1 += (a2 & 0xffff) + BASE - 1;
  s2 += ((a1 >>> 16) & 0xffff) + ((a2 >>> 16) & 0xffff) + BASE - rem;
  if (s1 >= BASE) s1 -= BASE;
  if (s1 >= BASE) s1 -= BASE;
  if (s2 >= 2 * BASE) s2 -= 2 * BASE;
  if (s2 >= BASE) s2 -= BASE;
  return ((s2 << 16) | s1) >>> 0;
}

/** Eight lower-case hex digits, zero-padded: the form catalogues and xrdadler32 use. */
export function formatAdler32(value: number): string {
  return (value >>> 0).toString(16).padStart(8, '0');
}
