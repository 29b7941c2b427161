import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { parseScryptHash, verifyPassword, type ScryptHash } from '../config/password-hash.js';
import type { ShareConfig } from '../config/share-config.js';
import { HttpError } from '../http/http-error.js';
import type { StateDb } from '../state/state-db.js';
import { LoginThrottle } from './login-throttle.js';
import type { AuthenticatedPrincipal } from './principal.js';

const CACHE_TTL_MS = 5 * 60_000;
const CACHE_MAX = 2_000;
/** Used nonces kept at most (with their counts); the oldest beyond are forgotten (their next use is 401). */
const MAX_NONCES = 20_000;
/** Bytes of a nonce: issue time (8) and random (12), then the signature. */
const NONCE_BODY = 20;
const NONCE_MAC = 16;
/** How often expired nonces are removed (and the store cut back to MAX_NONCES). */
const NONCE_PRUNE_MS = 10_000;
const MAX_AUTH_HEADER = 8 * 1024;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

interface CachedLogin {
  readonly principal: AuthenticatedPrincipal;
  readonly expires: number;
}

/** Why a request carrying credentials was refused. */
export type AuthFailure = 'bad-credentials' | 'stale-nonce';

/**
 * Authenticates requests: HTTP Basic (every password character, split at the first `:`, scrypt hashes,
 * constant-time comparison), HTTP Digest (MD5/MD5-sess, `qop=auth`, server-side nonces that expire and
 * count: a replayed or never-issued nonce is refused) and bearer tokens (SHA-256 lookup). Failed logins
 * are throttled per client address. Nonces and failed logins live in the state database, so every
 * process serving the share agrees on them (a nonce issued by one is valid on another, a replay is
 * refused by all). Successful Basic logins are remembered for 5 minutes under a keyed
 * hash of the header (never the password), so a client sending credentials on every request does not pay
 * an scrypt each time.
 */
export class Authenticator {
  private readonly throttle: LoginThrottle;
  private readonly hashes = new Map<string, ScryptHash>();
  private readonly cache = new Map<string, CachedLogin>();
  private noncesPrunedAt = 0;
  /** Signs nonces: the same key in every process (from the state file), so any of them checks any nonce. */
  private readonly nonceKey: Buffer;
  private readonly cacheKey = randomBytes(32);
  /** A hash to check unknown users against, so that timing does not tell which users exist. */
  private readonly decoy: ScryptHash;

  constructor(
    private readonly config: ShareConfig,
    private readonly db: StateDb,
    private readonly now: () => number = Date.now,
  ) {
    this.throttle = new LoginThrottle(config.auth.throttle, db, now);
    this.nonceKey = db.secret('digest-nonce');
    let decoy: ScryptHash | undefined;
    for (const user of config.users.values()) {
      const parsed = user.password === undefined ? undefined : parseScryptHash(user.password);
      if (parsed) {
        this.hashes.set(user.name, parsed);
        decoy ??= parsed;
      }
    }
    this.decoy = decoy ?? {
      logN: 15,
      r: 8,
      p: 1,
      salt: randomBytes(16),
      hash: randomBytes(32),
    };
  }

  /**
   * The principal of a request, or undefined when it carries no credentials (anonymous).
   *
   * @throws HttpError 401 for bad credentials (with the challenge), 429 for a throttled address, 400 for
   *   a malformed `Authorization` header
   */
  async authenticate(request: IncomingMessage): Promise<AuthenticatedPrincipal | undefined> {
    const header = request.headers.authorization;
    if (header === undefined || header.trim() === '') return undefined;
    const address = request.socket.remoteAddress ?? 'unknown';
    const blocked = this.throttle.blockedFor(address);
    if (blocked > 0)
      throw new HttpError(429, 'too many failed logins from this address', {
        'Retry-After': String(Math.ceil(blocked / 1000)),
      });
    if (header.length > MAX_AUTH_HEADER) throw new HttpError(400, 'Authorization header too long');
    const space = header.indexOf(' ');
    const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
    const value = space === -1 ? '' : header.slice(space + 1).trim();
    let result: AuthenticatedPrincipal | AuthFailure;
    if (scheme === 'basic' && this.config.auth.basic) result = await this.basic(header, value);
    else if (scheme === 'digest' && this.config.auth.digest) result = this.digest(request, value);
    else if (scheme === 'bearer' && this.config.tokens.size > 0) result = this.bearer(value);
    else result = 'bad-credentials';
    if (typeof result !== 'string') return result;
    if (result === 'stale-nonce') throw new HttpError(401, 'Digest nonce expired', this.challenge(true));
    if (this.throttle.fail(address))
      throw new HttpError(429, 'too many failed logins from this address', {
        'Retry-After': String(Math.ceil(this.config.auth.throttle.blockMs / 1000)),
      });
    throw new HttpError(401, 'bad credentials', this.challenge());
  }

  /** `WWW-Authenticate` headers for a 401: Basic and/or Digest (a fresh nonce), as configured. */
  challenge(stale = false): Record<string, string[]> {
    const realm = this.config.realm.replace(/["\\]/g, '');
    const values: string[] = [];
    if (this.config.auth.digest)
      values.push(
        `Digest realm="${realm}", qop="auth", algorithm=MD5, nonce="${this.issueNonce()}"${stale ? ', stale=true' : ''}`,
      );
    if (this.config.auth.basic) values.push(`Basic realm="${realm}", charset="UTF-8"`);
    return values.length > 0 ? { 'WWW-Authenticate': values } : {};
  }

  private async basic(header: string, value: string): Promise<AuthenticatedPrincipal | AuthFailure> {
    const key = createHmac('sha256', this.cacheKey).update(header).digest('base64');
    const cached = this.cache.get(key);
    const now = this.now();
    if (cached && cached.expires > now) return cached.principal;
    if (cached) this.cache.delete(key);
    if (!BASE64.test(value) || value.length === 0) throw new HttpError(400, 'malformed Basic credentials');
    const bytes = Buffer.from(value, 'base64');
    let decoded: string;
    try {
      decoded = utf8.decode(bytes);
    } catch {
      // Clients that ignore charset="UTF-8" send ISO-8859-1.
      decoded = bytes.toString('latin1');
    }
    const colon = decoded.indexOf(':');
    if (colon === -1) throw new HttpError(400, 'malformed Basic credentials (no ":")');
    const name = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const stored = this.hashes.get(name);
    // Unknown users cost the same scrypt as known ones.
    const ok = await verifyPassword(password, stored ?? this.decoy);
    if (!ok || !stored) return 'bad-credentials';
    const principal: AuthenticatedPrincipal = { name, kind: 'user', scheme: 'basic' };
    if (this.cache.size >= CACHE_MAX) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(key, { principal, expires: now + CACHE_TTL_MS });
    return principal;
  }

  private bearer(value: string): AuthenticatedPrincipal | AuthFailure {
    if (value.length === 0 || value.length > 4096) return 'bad-credentials';
    const digest = createHash('sha256').update(value, 'utf8').digest('hex');
    const name = this.config.tokens.get(digest);
    return name === undefined ? 'bad-credentials' : { name, kind: 'token', scheme: 'bearer' };
  }

  /**
   * A nonce is its issue time and 12 random bytes, signed (HMAC-SHA-256, 16 bytes): issuing one costs no
   * write, so answering 401s stores nothing, and any process of the share checks it with the shared
   * key. Only a nonce that authenticated a request is stored, with its highest count.
   */
  private issueNonce(): string {
    const body = Buffer.alloc(NONCE_BODY);
    body.writeBigUInt64BE(BigInt(this.now()));
    randomBytes(NONCE_BODY - 8).copy(body, 8);
    return Buffer.concat([body, this.sign(body)]).toString('base64url');
  }

  private sign(body: Buffer): Buffer {
    return createHmac('sha256', this.nonceKey).update(body).digest().subarray(0, NONCE_MAC);
  }

  /** The issue time of a nonce this server signed, or undefined (made up, altered). */
  private nonceIssued(nonce: string): number | undefined {
    if (nonce.length !== Math.ceil(((NONCE_BODY + NONCE_MAC) * 4) / 3)) return undefined;
    const bytes = Buffer.from(nonce, 'base64url');
    if (bytes.length !== NONCE_BODY + NONCE_MAC) return undefined;
    const body = bytes.subarray(0, NONCE_BODY);
    if (!timingSafeEqual(bytes.subarray(NONCE_BODY), this.sign(body))) return undefined;
    return Number(body.readBigUInt64BE());
  }

  private digest(request: IncomingMessage, value: string): AuthenticatedPrincipal | AuthFailure {
    const params = parseDigestParams(value);
    if (!params) throw new HttpError(400, 'malformed Digest credentials');
    const { username, realm, nonce, uri, response, qop, nc, cnonce } = params;
    const algorithm = (params.algorithm ?? 'MD5').toUpperCase();
    if (
      username === undefined ||
      nonce === undefined ||
      uri === undefined ||
      response === undefined ||
      realm !== this.config.realm.replace(/["\\]/g, '') ||
      qop?.toLowerCase() !== 'auth' ||
      nc === undefined ||
      cnonce === undefined ||
      !/^[0-9a-f]{8}$/i.test(nc) ||
      (algorithm !== 'MD5' && algorithm !== 'MD5-SESS')
    )
      return 'bad-credentials';
    const user = this.config.users.get(username);
    const issued = this.nonceIssued(nonce);
    if (issued === undefined) return 'bad-credentials';
    const now = this.now();
    if (
      now - issued >= this.config.auth.nonceLifetimeMs ||
      issued > now + 60_000 ||
      issued <= this.db.nonceFloor()
    )
      return 'stale-nonce';
    // The digest covers the request-target as sent; a client may send it with or without the query.
    const target = request.url ?? '';
    if (uri !== target && uri !== target.split('?')[0]) return 'bad-credentials';
    const count = Number.parseInt(nc, 16);
    if (!user?.digest) return 'bad-credentials';
    const md5 = (text: string): string => createHash('md5').update(text, 'utf8').digest('hex');
    const ha1 = algorithm === 'MD5-SESS' ? md5(`${user.digest}:${nonce}:${cnonce}`) : user.digest;
    const ha2 = md5(`${request.method ?? ''}:${uri}`);
    const expected = md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
    const given = Buffer.from(response.toLowerCase().padEnd(32, '0').slice(0, 32));
    if (!timingSafeEqual(given, Buffer.from(expected)) || response.length !== 32) return 'bad-credentials';
    // Only a correct response consumes the count: a forged request cannot burn a client's nonce. The
    // count is taken in one statement on the shared state: a replay is refused by every process.
    if (now - this.noncesPrunedAt >= NONCE_PRUNE_MS) {
      this.noncesPrunedAt = now;
      this.db.pruneNonces(now - this.config.auth.nonceLifetimeMs, MAX_NONCES);
    }
    if (count < 1 || !this.db.useNonce(nonce, issued, count)) return 'bad-credentials';
    return { name: user.name, kind: 'user', scheme: 'digest' };
  }
}

interface DigestParams {
  username?: string;
  realm?: string;
  nonce?: string;
  uri?: string;
  response?: string;
  qop?: string;
  nc?: string;
  cnonce?: string;
  algorithm?: string;
}

const DIGEST_KEYS = new Set([
  'username',
  'realm',
  'nonce',
  'uri',
  'response',
  'qop',
  'nc',
  'cnonce',
  'algorithm',
]);

/** `k=v, k="v"` pairs of a Digest header; undefined when malformed. */
function parseDigestParams(value: string): DigestParams | undefined {
  const params: DigestParams = {};
  const pattern = /\s*([A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)/y;
  let index = 0;
  while (index < value.length) {
    pattern.lastIndex = index;
    const match = pattern.exec(value);
    if (!match || match[0].length === 0) return undefined;
    index = pattern.lastIndex;
    const key = match[1]?.toLowerCase() ?? '';
    const text = match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : (match[3] ?? '');
    if (DIGEST_KEYS.has(key)) params[key as keyof DigestParams] = text;
  }
  return params;
}
