import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
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
