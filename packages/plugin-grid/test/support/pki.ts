import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A throw-away PKI made with openssl: CA, server cert for 127.0.0.1, a user cert in several forms. */
export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  userCert: string;
  userKey: string;
  /** Modern (AES) PKCS#12, passphrase {@link TestPki.passphrase}. */
  p12: string;
  /** RC2-40 PKCS#12 (`openssl pkcs12 -export -legacy`), which OpenSSL 3 refuses to read. */
  legacyP12: string;
  /** Certificate + key in one file, as a proxy file holds them. */
  proxyPem: string;
  passphrase: string;
}

export function createTestPki(dir: string): TestPki {
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ossl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=Beamline Test CA',
  );
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ossl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  );
  ossl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  );
  ossl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'user.key',
    '-out',
    'user.csr',
    '-subj',
    '/CN=Test User',
  );
  ossl(
    'x509',
    '-req',
    '-in',
    'user.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'user.crt',
    '-days',
    '2',
  );
  const passphrase = 'test-pass';
  ossl(
    'pkcs12',
    '-export',
    '-in',
    'user.crt',
    '-inkey',
    'user.key',
    '-out',
    'user.p12',
    '-passout',
    `pass:${passphrase}`,
  );
  ossl(
    'pkcs12',
    '-export',
    '-legacy',
    '-in',
    'user.crt',
    '-inkey',
    'user.key',
    '-out',
    'legacy.p12',
    '-passout',
    `pass:${passphrase}`,
  );
  execFileSync('sh', ['-c', 'cat user.crt user.key ca.crt > proxy.pem'], { cwd: dir });
  const p = (n: string) => join(dir, n);
  return {
    dir,
    caCert: p('ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    userCert: p('user.crt'),
    userKey: p('user.key'),
    p12: p('user.p12'),
    legacyP12: p('legacy.p12'),
    proxyPem: p('proxy.pem'),
    passphrase,
  };
}

/** Server certificates that a client must refuse, and a CA that signed none of the others. */
export interface HostilePki {
  /** A second CA: trusting only it, the test server's certificate is not trusted. */
  otherCaCert: string;
  /** For `DNS:other.example` only: a hostname mismatch at 127.0.0.1 and localhost. */
  wrongNameCert: string;
  /** For 127.0.0.1, valid from 2020-01-01 to 2020-01-02. */
  expiredCert: string;
  /** The key of both certificates. */
  key: string;
}

/** Certificates for the TLS failure tests, issued by the test CA (`openssl ca` sets past dates). */
export function createHostilePki(pki: TestPki): HostilePki {
  const dir = pki.dir;
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ossl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'other-ca.key',
    '-out',
    'other-ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=Some Other CA',
  );
  ossl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'hostile.key',
    '-out',
    'hostile.csr',
    '-subj',
    '/CN=x',
  );
  writeFileSync(join(dir, 'wrong-name.ext'), 'subjectAltName=DNS:other.example\n');
  ossl(
    'x509',
    '-req',
    '-in',
    'hostile.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'wrong-name.crt',
    '-days',
    '2',
    '-extfile',
    'wrong-name.ext',
  );
  mkdirSync(join(dir, 'ca-db'), { recursive: true });
  writeFileSync(join(dir, 'ca-db', 'index.txt'), '');
  writeFileSync(join(dir, 'ca-db', 'serial'), '1000\n');
  writeFileSync(
    join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = test_ca',
      '[test_ca]',
      `database = ${join(dir, 'ca-db', 'index.txt')}`,
      `new_certs_dir = ${join(dir, 'ca-db')}`,
      `serial = ${join(dir, 'ca-db', 'serial')}`,
      'default_md = sha256',
      'policy = any',
      '[any]',
      'commonName = supplied',
      '[server]',
      'subjectAltName = IP:127.0.0.1,DNS:localhost',
      '',
    ].join('\n'),
  );
  ossl(
    'ca',
    '-batch',
    '-config',
    'ca.cnf',
    '-cert',
    'ca.crt',
    '-keyfile',
    'ca.key',
    '-in',
    'hostile.csr',
    '-out',
    'expired.crt',
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20200102000000Z',
    '-extensions',
    'server',
  );
  const p = (n: string) => join(dir, n);
  return {
    otherCaCert: p('other-ca.crt'),
    wrongNameCert: p('wrong-name.crt'),
    expiredCert: p('expired.crt'),
    key: p('hostile.key'),
  };
}
