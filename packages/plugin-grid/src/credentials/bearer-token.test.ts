import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isGridError } from '../errors/grid-error.js';
import { checkTokenExpiry, discoverBearerToken, jwtExpiry } from './bearer-token.js';
import { p12Error } from './client-cert.js';

const jwt = (payload: object) => `h.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.s`;

describe('WLCG bearer token discovery', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bt-'));
  const uid = 4242;
  writeFileSync(join(dir, 'file-token'), '  from-file \n');
  writeFileSync(join(dir, `bt_u${uid}`), 'from-xdg');
  it('follows the order BEARER_TOKEN, BEARER_TOKEN_FILE, XDG_RUNTIME_DIR, /tmp', async () => {
    const all = {
      BEARER_TOKEN: ' env-token ',
      BEARER_TOKEN_FILE: join(dir, 'file-token'),
      XDG_RUNTIME_DIR: dir,
    };
    expect(await discoverBearerToken(all, uid)).toEqual({ token: 'env-token', source: 'BEARER_TOKEN' });
    expect(await discoverBearerToken({ ...all, BEARER_TOKEN: '   ' }, uid)).toEqual({
      token: 'from-file',
      source: 'BEARER_TOKEN_FILE',
    });
    expect(
      await discoverBearerToken({ XDG_RUNTIME_DIR: dir, BEARER_TOKEN_FILE: join(dir, 'missing') }, uid),
    ).toEqual({ token: 'from-xdg', source: 'XDG_RUNTIME_DIR' });
  });
  it('falls back to /tmp/bt_u<uid> and finds nothing when all are empty', async () => {
    const tmpUid = 900_000 + Math.floor(Math.random() * 1000);
    expect(await discoverBearerToken({}, tmpUid)).toBeUndefined();
    writeFileSync(`/tmp/bt_u${tmpUid}`, 'tmp-token');
    try {
      expect(await discoverBearerToken({ XDG_RUNTIME_DIR: join(dir, 'none') }, tmpUid)).toEqual({
        token: 'tmp-token',
        source: 'tmp',
      });
    } finally {
      rmSync(`/tmp/bt_u${tmpUid}`, { force: true });
    }
  });
  it('checks JWT expiry before starting, without printing the token', () => {
    const now = 1_700_000_000_000;
    expect(jwtExpiry(jwt({ exp: 1_700_000_100 }))).toBe(1_700_000_100);
    expect(jwtExpiry('opaque-macaroon')).toBeUndefined();
    const expired = { token: jwt({ exp: 1_699_999_000, sub: 'me' }), source: 'BEARER_TOKEN' as const };
    expect(() => checkTokenExpiry(expired, 0, now)).toThrow(/expired 1000 s ago/);
    try {
      checkTokenExpiry(expired, 0, now);
    } catch (e) {
      expect(isGridError(e, 'GRID_CREDENTIALS_EXPIRED')).toBe(true);
      expect((e as Error).message).not.toContain(expired.token);
    }
    expect(() =>
      checkTokenExpiry({ token: jwt({ exp: 1_700_000_050 }), source: 'option' }, 100, now),
    ).toThrow(/expires in 50 s/);
    expect(() => checkTokenExpiry({ token: 'opaque', source: 'option' }, 100, now)).not.toThrow();
  });
});

describe('p12 errors', () => {
  it('explains OpenSSL 3 refusing legacy encryption', () => {
    const e = p12Error(
      '/x.p12',
      Object.assign(new Error('Unsupported PKCS12 PFX data'), { code: 'ERR_CRYPTO_UNSUPPORTED_OPERATION' }),
    );
    expect(e.code).toBe('GRID_P12_LEGACY');
    expect(e.message).toMatch(/openssl pkcs12 -legacy/);
    expect(p12Error('/x.p12', new Error('mac verify failure')).message).toMatch(/wrong passphrase/);
  });
});
