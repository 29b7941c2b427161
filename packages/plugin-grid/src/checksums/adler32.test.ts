import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  adler32,
  adler32Combine,
  adler32Update,
  createAdler32,
  formatAdler32,
  ADLER32_INIT,
} from './adler32.js';
import { ADLER32_WASM_BASE64 } from './adler32-wasm.js';
import { checksumMismatches, normalizeChecksum, normalizeChecksums } from './checksum-format.js';

/** Textbook adler32 with a modulo per byte: the reference. */
function slowAdler(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (const x of data) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

describe('adler32', () => {
  it('matches known values', () => {
    expect(formatAdler32(adler32(Buffer.from('Wikipedia')))).toBe('11e60398');
    expect(formatAdler32(adler32(new Uint8Array()))).toBe('00000001');
  });
  it('matches the per-byte reference on all-0xff data longer than NMAX (deferred modulo)', () => {
    const data = new Uint8Array(5552 * 3 + 17).fill(0xff);
    expect(adler32(data)).toBe(slowAdler(data));
  });
  it('continues across chunks of any size', () => {
    const data = randomBytes(100_003);
    let a = ADLER32_INIT;
    for (let i = 0; i < data.length; i += 7919) a = adler32Update(a, data.subarray(i, i + 7919));
    expect(a).toBe(slowAdler(data));
  });
  it('gives the same values with WebAssembly SIMD and with the scalar loop, at every block and run edge', () => {
    const simd = createAdler32(Buffer.from(ADLER32_WASM_BASE64, 'base64'));
    const scalar = createAdler32(undefined);
    expect(simd).not.toBe(scalar);
    const lengths = [
      0,
      1,
      15,
      16,
      17,
      255,
      256,
      257,
      5551,
      5552,
      5553,
      5552 * 2 + 16,
      1024 * 1024 + 3,
      2500_000,
    ];
    for (const len of lengths) {
      for (const data of [randomBytes(len), new Uint8Array(len).fill(0xff)]) {
        for (const seed of [ADLER32_INIT, 0xfff0fff0]) {
          const want = len <= 20_000 && seed === ADLER32_INIT ? slowAdler(data) : scalar(seed, data);
          expect(simd(seed, data)).toBe(want);
        }
      }
    }
  });
  it('combines segment checksums like zlib adler32_combine', () => {
    const data = randomBytes(50_000);
    for (const cut of [0, 1, 5552, 25_000, 49_999]) {
      const a = adler32(data.subarray(0, cut));
      const b = adler32(data.subarray(cut));
      expect(adler32Combine(a, b, data.length - cut)).toBe(adler32(data));
    }
  });
  it('formats with leading zeros', () => {
    expect(formatAdler32(0x9600001)).toBe('09600001');
  });
});

describe('checksum normalisation', () => {
  it('pads adler32 missing leading zeros and lowercases', () => {
    expect(normalizeChecksum('adler32', '9600001')).toBe('09600001');
    expect(normalizeChecksum('adler32', 'ABCDEF01')).toBe('abcdef01');
  });
  it('accepts base64 of the right length and rejects wrong lengths', () => {
    const md5 = 'd41d8cd98f00b204e9800998ecf8427e';
    expect(normalizeChecksum('md5', Buffer.from(md5, 'hex').toString('base64'))).toBe(md5);
    expect(normalizeChecksum('md5', 'abc')).toBeUndefined();
    expect(normalizeChecksum('sha256', 'SXV/Kg==')).toBeUndefined();
  });
  it('maps algorithm names and reports mismatches', () => {
    expect(normalizeChecksums({ 'SHA-256': 'a'.repeat(64), ADLER32: '1' })).toEqual({
      sha256: 'a'.repeat(64),
      adler32: '00000001',
    });
    expect(() => normalizeChecksums({ md5: 'xyz' })).toThrow(/invalid md5/);
    expect(checksumMismatches({ adler32: '00000001', md5: 'a' }, { adler32: '00000002' })).toEqual([
      'adler32',
    ]);
  });
});
