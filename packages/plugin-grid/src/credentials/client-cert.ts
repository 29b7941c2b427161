import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GridError } from '../errors/grid-error.js';

/** How to find the X.509 client credentials for HTTPS storage. */
export type ClientCertOptions =
  | { readonly p12: string; readonly passphrase?: string }
  | { readonly cert: string; readonly key?: string; readonly passphrase?: string }
  /** `X509_USER_PROXY`, else `X509_USER_CERT` + `X509_USER_KEY`. */
  | 'env';

/** TLS options for the HTTPS connections (secrets inside: never log this object). */
export interface TlsCredentials {
  pfx?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  passphrase?: string;
  ca?: Buffer[];
  /** Certificate expiry (ms since epoch), when it could be read. */
  notAfterMs?: number;
}

/**
 * Loads a client certificate (`.p12` or PEM, including a proxy file holding certificate, key and
 * chain) and the CA directory (`X509_CERT_DIR`). The `.p12` is checked here, not at the first
 * connection, so a legacy RC2/3DES file that OpenSSL 3 refuses is reported once with what to do.
 */
export async function loadTlsCredentials(
  cert: ClientCertOptions | undefined,
  caDir: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TlsCredentials> {
  const out: TlsCredentials = {};
  const ca = caDir ?? env.X509_CERT_DIR;
  if (ca) out.ca = await readCaDir(ca);
  if (cert === undefined) return out;
  if (cert === 'env') {
    if (env.X509_USER_PROXY)
      return { ...out, ...(await loadPem(env.X509_USER_PROXY, env.X509_USER_PROXY, undefined)) };
    if (env.X509_USER_CERT)
      return {
        ...out,
        ...(await loadPem(env.X509_USER_CERT, env.X509_USER_KEY ?? env.X509_USER_CERT, undefined)),
      };
    throw new GridError(
      'GRID_CREDENTIALS_INVALID',
      'client certificate "env": neither X509_USER_PROXY nor X509_USER_CERT is set',
    );
  }
  if ('p12' in cert) {
    const pfx = await readCred(cert.p12, '.p12');
    const passphrase = cert.passphrase ?? '';
    try {
      createSecureContext({ pfx, passphrase });
    } catch (e) {
      throw p12Error(cert.p12, e);
    }
    // Node cannot read the certificate out of a PKCS#12 without a parser, so expiry is checked for PEM only.
    return { ...out, pfx, passphrase };
  }
  return { ...out, ...(await loadPem(cert.cert, cert.key ?? cert.cert, cert.passphrase)) };
}

async function loadPem(
  certPath: string,
  keyPath: string,
  passphrase: string | undefined,
): Promise<TlsCredentials> {
  const cert = await readCred(certPath, 'certificate');
  const key = await readCred(keyPath, 'key');
  try {
    createSecureContext({ cert, key, ...(passphrase !== undefined && { passphrase }) });
  } catch (e) {
    throw new GridError(
      'GRID_CREDENTIALS_INVALID',
      `cannot use the client certificate ${certPath} with key ${keyPath}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  let notAfterMs: number | undefined;
  try {
    notAfterMs = Date.parse(new X509Certificate(cert).validTo);
  } catch {
    notAfterMs = undefined;
  }
  return {
    cert,
    key,
    ...(passphrase !== undefined && { passphrase }),
    ...(notAfterMs !== undefined && { notAfterMs }),
  };
}

async function readCred(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new GridError(
      'GRID_CREDENTIALS_INVALID',
      `cannot read the ${what} file ${path}: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/**
 * Maps OpenSSL's refusal of a `.p12` to a message a user can act on. OpenSSL 3 (Node ≥ 17) no longer
 * loads RC2-40/3DES-encrypted PKCS#12 files, which older grid CAs and browsers export; the error it
 * gives ("Unsupported PKCS12 PFX data") does not say so.
 */
export function p12Error(path: string, e: unknown): GridError {
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? String(e);
  if (err.code === 'ERR_CRYPTO_UNSUPPORTED_OPERATION' || /unsupported/i.test(msg)) {
    return new GridError(
      'GRID_P12_LEGACY',
      `${path} uses legacy PKCS#12 encryption (RC2/3DES) that OpenSSL 3 refuses. Convert it once: ` +
        `openssl pkcs12 -legacy -in old.p12 -nodes -out tmp.pem && openssl pkcs12 -export -in tmp.pem -out new.p12 ` +
        `(then delete tmp.pem), or export PEM files and pass {cert, key}; running Node with --openssl-legacy-provider also works.`,
      { cause: e, details: { path } },
    );
  }
  if (/mac verify failure|bad decrypt|wrong password/i.test(msg)) {
    return new GridError('GRID_CREDENTIALS_INVALID', `${path}: wrong passphrase for the .p12 file`, {
      cause: e,
      details: { path },
    });
  }
  return new GridError('GRID_CREDENTIALS_INVALID', `cannot use the .p12 file ${path}: ${msg}`, {
    cause: e,
    details: { path },
  });
}

async function readCaDir(dir: string): Promise<Buffer[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new GridError(
      'GRID_CREDENTIALS_INVALID',
      `cannot read the CA directory ${dir}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  // IGTF directories hold each CA as <hash>.0 (and .pem); reading both would only duplicate them.
  const picks = names.filter((n) => /\.(0|pem|crt)$/.test(n));
  const bufs = await Promise.all(picks.map((n) => readFile(join(dir, n)).catch(() => undefined)));
  return bufs.flatMap((b) => (b !== undefined && b.includes('BEGIN CERTIFICATE') ? [b] : []));
}
