import { ADLER32_WASM_BASE64 } from './adler32-wasm.js';

const BASE = 65521;

/** The adler32 of the empty input: the seed of a new computation. */
export const ADLER32_INIT = 1;

/** A function that continues an adler32 over `data` from the running value `adler` (unsigned). */
export type Adler32Update = (adler: number, data: Uint8Array) => number;

/**
 * Builds the adler32 update function from the WebAssembly module `wasm` (adler32.wat: SIMD, about
 * 15 GB/s here, five times the scalar loop): inputs are copied into its memory 1 MiB at a time. Short
 * inputs, and a runtime without WebAssembly SIMD, use the scalar loop. The running value is the whole
 * state, so it can be saved and resumed. Self-contained on purpose (no outer references): the hash
 * worker evaluates this very function from its source text.
 */
export function createAdler32(wasm: Uint8Array | undefined): Adler32Update {
  /**
   * The scalar loop: the modulo waits NMAX (5552) bytes, and each turn takes 16 bytes (`a` gains their
   * sum, `b` gains 16·a plus their position-weighted sum: the values of the byte-at-a-time recurrence
   * with a much shorter dependency chain).
   */
  function scalar(adler: number, data: Uint8Array): number {
    let a = adler & 0xffff;
    let b = (adler >>> 16) & 0xffff;
    const len = data.length;
    let i = 0;
    while (i < len) {
      // 5552 = NMAX, a multiple of 16: the largest block after which a and b still fit in 32 bits.
      const end = Math.min(i + 5552, len);
      const end16 = end - 15;
      for (; i < end16; i += 16) {
        const d0 = data[i]!,
          d1 = data[i + 1]!,
          d2 = data[i + 2]!,
          d3 = data[i + 3]!;
        const d4 = data[i + 4]!,
          d5 = data[i + 5]!,
          d6 = data[i + 6]!,
          d7 = data[i + 7]!;
        const d8 = data[i + 8]!,
          d9 = data[i + 9]!,
          d10 = data[i + 10]!,
          d11 = data[i + 11]!;
        const d12 = data[i + 12]!,
          d13 = data[i + 13]!,
          d14 = data[i + 14]!,
          d15 = data[i + 15]!;
        b +=
          16 * (a + d0) +
          15 * d1 +
          14 * d2 +
          13 * d3 +
          12 * d4 +
          11 * d5 +
          10 * d6 +
          9 * d7 +
          8 * d8 +
          7 * d9 +
          6 * d10 +
          5 * d11 +
          4 * d12 +
          3 * d13 +
          2 * d14 +
          d15;
        a += d0 + d1 + d2 + d3 + d4 + d5 + d6 + d7 + d8 + d9 + d10 + d11 + d12 + d13 + d14 + d15;
      }
      for (; i < end; i++) {
        a += data[i]!;
        b += a;
      }
      a %= 65521;
      b %= 65521;
    }
    return ((b << 16) | a) >>> 0;
  }
  let memory: Uint8Array;
  let update: (adler: number, ptr: number, len: number) => number;
  try {
    // The global WebAssembly object, typed here (the project's TypeScript libs do not declare it).
    const wa = (
      globalThis as unknown as {
        WebAssembly: {
          Module: new (bytes: Uint8Array) => object;
          Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
        };
      }
    ).WebAssembly;
    const exports = new wa.Instance(new wa.Module(wasm!), {}).exports;
    memory = new Uint8Array((exports.memory as { buffer: ArrayBuffer }).buffer);
    update = exports.update as typeof update;
  } catch {
    return scalar;
  }
  const chunk = 1024 * 1024;
  return (adler, data) => {
    if (data.length < 256) return scalar(adler, data);
    let a = adler;
    for (let off = 0; off < data.length; off += chunk) {
      const piece = data.subarray(off, Math.min(off + chunk, data.length));
      memory.set(piece, 0);
      a = update(a, 0, piece.length) >>> 0;
    }
    return a;
  };
}

/** Continues an adler32 over `data` from the running value `adler` (unsigned). */
export const adler32Update: Adler32Update = createAdler32(Buffer.from(ADLER32_WASM_BASE64, 'base64'));

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
