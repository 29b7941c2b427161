import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { WebdavError } from '../errors/webdav-error.js';

/** `$scrypt$ln=15,r=8,p=1$<salt base64>$<hash base64>` (PHC string format). */
const PHC =
  /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

/** Parameters new hashes get: N = 2^15, r = 8, p = 1 (32 MiB, about 50-100 ms per check). */
const DEFAULT_LOG_N = 15;
const KEY_LENGTH = 32;
/** Bounds for hashes read from a configuration, so a hostile file cannot make one check take minutes. */
const MAX_LOG_N = 20;
const MAX_R = 32;
const MAX_P = 16;

/** A parsed scrypt hash. */
export interface ScryptHash {
  readonly logN: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

function scryptAsync(
  password: string,
  salt: Buffer,
  length: number,
  options: ScryptOptions,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, length, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

function scryptOptions(logN: number, r: number, p: number): ScryptOptions {
  // Node refuses N·r·128 above maxmem (32 MiB by default): allow what the parameters need.
  return { N: 2 ** logN, r, p, maxmem: 128 * 2 ** logN * r + 16 * 1024 * 1024 };
}

/**
 * Hashes a password with scrypt into the PHC string form the shares configuration expects
 * (`users.<name>.password`).
 */
export async function hashPassword(password: string, options: { logN?: number } = {}): Promise<string> {
  const logN = options.logN ?? DEFAULT_LOG_N;
  if (!Number.isInteger(logN) || logN < 10 || logN > MAX_LOG_N)
    throw new WebdavError('WEBDAV_HASH_INVALID', `scrypt cost ln must be 10 to ${MAX_LOG_N}, got ${logN}`);
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, KEY_LENGTH, scryptOptions(logN, 8, 1));
  return `$scrypt$ln=${logN},r=8,p=1$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Parses a PHC scrypt string; undefined when it is not one (or its parameters are out of bounds). */
export function parseScryptHash(text: string): ScryptHash | undefined {
  const match = PHC.exec(text);
  if (!match) return undefined;
  const [logN, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const salt = Buffer.from(match[4] ?? '', 'base64');
  const hash = Buffer.from(match[5] ?? '', 'base64');
  if (logN < 1 || logN > MAX_LOG_N || r < 1 || r > MAX_R || p < 1 || p > MAX_P) return undefined;
  if (salt.length < 8 || hash.length < 16) return undefined;
  return { logN, r, p, salt, hash };
}

/** Whether `password` matches a parsed scrypt hash (constant-time comparison of the derived keys). */
export async function verifyPassword(password: string, stored: ScryptHash): Promise<boolean> {
  const derived = await scryptAsync(
    password,
    stored.salt,
    stored.hash.length,
    scryptOptions(stored.logN, stored.r, stored.p),
  );
  return timingSafeEqual(derived, stored.hash);
}

/** The Digest secret of a user (`HA1` = hex MD5 of `user:realm:password`), as `htdigest` stores it. */
export function digestSecret(user: string, realm: string, password: string): string {
  return createHash('md5').update(`${user}:${realm}:${password}`, 'utf8').digest('hex');
}

/** Hex SHA-256 of a bearer token, as `tokens.<name>.sha256` stores it. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new random bearer token (256 bits, base64url). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}
