import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { requireService } from '@beamline/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasBinary, INSTALL_HINT } from '../../test/support/binaries.js';
import { makeFiles, runDownload, tempDir, type DataFile } from '../../test/support/fixtures.js';
import { startNginx, type TestNginx } from '../../test/support/nginx.js';
import { createTestPki, type TestPki } from '../../test/support/pki.js';
import { toGridFile } from '../model/grid-file.js';
import { isGridError } from '../errors/grid-error.js';
import { mkdirSync, copyFileSync } from 'node:fs';

const available = requireService(
  'nginx + openssl',
  hasBinary('nginx') && hasBinary('openssl', 'version'),
  INSTALL_HINT,
);

describe.skipIf(!available)('client certificates against nginx with ssl_verify_client on', () => {
  let root: string;
  let nginx: TestNginx;
  let pki: TestPki;
  let file: DataFile;
  let caDir: string;

  beforeAll(async () => {
    root = tempDir('tls');
    pki = createTestPki(tempDir('pki'));
    caDir = join(root, 'ca');
    mkdirSync(caDir);
    copyFileSync(pki.caCert, join(caDir, 'testca.pem'));
    file = makeFiles(join(root, 'data'), [3 * 1024 * 1024 + 11])[0]!;
    nginx = await startNginx({ dir: join(root, 'nginx'), dataDir: join(root, 'data'), pki });
  });
  afterAll(async () => {
    await nginx?.stop();
    rmSync(root, { recursive: true, force: true });
    rmSync(pki.dir, { recursive: true, force: true });
  });

  const list = () => [
    toGridFile({
      url: nginx.url(nginx.ports.tls!, file.name, 'https'),
      size: file.size,
      adler32: file.adler32,
    }),
  ];

  it('downloads with a modern .p12', async () => {
    const { error } = await runDownload(list(), {
      dest: join(root, 'out-p12'),
      credentials: { clientCert: { p12: pki.p12, passphrase: pki.passphrase }, caDir, bearerToken: false },
    });
    expect(error).toBeUndefined();
  });

  it('downloads with PEM certificate and key, and with a proxy-style PEM bundle', async () => {
    const pem = await runDownload(list(), {
      dest: join(root, 'out-pem'),
      credentials: { clientCert: { cert: pki.userCert, key: pki.userKey }, caDir, bearerToken: false },
    });
    expect(pem.error).toBeUndefined();
    const proxy = await runDownload(list(), {
      dest: join(root, 'out-proxy'),
      credentials: { clientCert: 'env', caDir, bearerToken: false, env: { X509_USER_PROXY: pki.proxyPem } },
    });
    expect(proxy.error).toBeUndefined();
  });

  it('explains a legacy (RC2-40) .p12 that OpenSSL 3 refuses', async () => {
    const { error } = await runDownload(list(), {
      dest: join(root, 'out-legacy'),
      credentials: {
        clientCert: { p12: pki.legacyP12, passphrase: pki.passphrase },
        caDir,
        bearerToken: false,
      },
    });
    expect(isGridError(error, 'GRID_P12_LEGACY')).toBe(true);
    expect((error as Error).message).toMatch(/legacy PKCS#12 encryption.*openssl pkcs12 -legacy/);
    expect((error as Error).message).not.toContain(pki.passphrase);
  });

  it('fails without a client certificate (nginx answers 400)', async () => {
    const { error, events } = await runDownload(list(), {
      dest: join(root, 'out-none'),
      credentials: { caDir, bearerToken: false },
      retry: { rounds: 1 },
    });
    expect(isGridError(error, 'GRID_FILES_FAILED')).toBe(true);
    expect(events.some((e) => e.type === 'file-failed')).toBe(true);
  });
});
