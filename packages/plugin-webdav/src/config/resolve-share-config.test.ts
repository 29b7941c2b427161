import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isWebdavError } from '../errors/webdav-error.js';
import { loadShareConfig, parseShareConfig } from './load-share-config.js';
import { digestSecret, hashPassword, parseScryptHash, verifyPassword } from './password-hash.js';
import { resolveShareConfig } from './resolve-share-config.js';

function message(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(isWebdavError(error, 'WEBDAV_CONFIG_INVALID')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected a configuration error');
}

describe('shares configuration', () => {
  it('resolves a valid configuration: absolute folders, bytes, milliseconds, deny by default', async () => {
    const hash = await hashPassword('pw', { logN: 10 });
    const config = resolveShareConfig(
      {
        users: { alice: { password: hash } },
        groups: { writers: ['alice'] },
        shares: [
          { path: '/data', root: 'data', read: ['anonymous'], write: ['@writers'], quota: '2g' },
          { path: '/wip', root: '/srv/wip' },
        ],
      },
      { baseDir: '/srv' },
    );
    expect(config.shares[0]).toMatchObject({ name: 'data', root: '/srv/data', quota: 2 * 1024 ** 3 });
    expect(config.shares[1]).toMatchObject({ read: [], write: [], symlinks: 'none' });
    expect(config.locks.maxTimeoutMs).toBe(3_600_000);
    expect(config.stateDir).toBe('/srv/.beamline/webdav');
  });

  it('refuses a plain-text password without printing it', () => {
    const text = message(() =>
      resolveShareConfig({ users: { bob: { password: 'hunter2' } }, shares: [{ path: '/d', root: '/d' }] }),
    );
    expect(text).toContain('users.bob.password');
    expect(text).toContain('plain-text');
    expect(text).not.toContain('hunter2');
  });

  it('names unknown principals, nested shares and bad paths, with YAML positions', () => {
    const text = message(() =>
      parseShareConfig(
        [
          'users:',
          '  alice: { digest: 0123456789abcdef0123456789abcdef }',
          'shares:',
          '  - path: /data',
          '    root: /srv/data',
          '    read: [anonymous]',
          '    write: [bob]',
          '  - path: /data/sub',
          '    root: /srv/sub',
          '  - path: /x/../y',
          '    root: /srv/y',
        ].join('\n'),
        { source: 'shares.yaml' },
      ),
    );
    expect(text).toContain('shares.yaml:7:13 shares[0].write[0]: unknown principal "bob"');
    expect(text).toContain('shares must not nest: /data/sub and /data');
    expect(text).toContain('shares[2].path');
  });

  it('reports unknown keys and wrong types', () => {
    const text = message(() => resolveShareConfig({ shares: [{ path: '/d', root: 5, raed: [] }] }));
    expect(text).toContain('shares[0]: unknown key(s) "raed"');
    expect(text).toContain('shares[0].root: expected string, got number 5');
  });

  it('hashes and verifies passwords with every character', async () => {
    for (const password of ['pa:ss', 'plus+/slash', 'ümlaut pässwörd', '😀', '']) {
      const stored = parseScryptHash(await hashPassword(password, { logN: 10 }));
      expect(stored).toBeDefined();
      expect(await verifyPassword(password, stored!)).toBe(true);
      expect(await verifyPassword(`${password}x`, stored!)).toBe(false);
    }
  });
});

describe('examples/petric-shares.yaml', () => {
  it('is a valid configuration: the PETRIC rules, a scrypt hash that verifies, a Digest secret', async () => {
    const file = fileURLToPath(new URL('../../examples/petric-shares.yaml', import.meta.url));
    const config = await loadShareConfig(file);
    expect(config.shares.map((share) => [share.path, share.read, share.write, share.symlinks])).toEqual([
      ['/data', ['anonymous'], ['@writers'], 'one-level-up'],
      ['/data-wip', ['authenticated'], ['@writers'], 'one-level-up'],
    ]);
    expect(config.auth).toMatchObject({ basic: true, digest: true });
    expect(config.tls).toBeDefined();
    const alice = config.users.get('alice');
    const stored = parseScryptHash(alice?.password ?? '');
    expect(stored && (await verifyPassword('correct horse battery staple', stored))).toBe(true);
    expect(alice?.digest).toBe(digestSecret('alice', 'PETRIC data', 'correct horse battery staple'));
    expect(config.tokens.get('53b61732959e4b6dd79005973f3d7981ac737a723847247cdadd6774a6d3bfa6')).toBe(
      'leaderboard-bot',
    );
  });
});
