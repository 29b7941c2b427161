import { createHash, randomBytes } from 'node:crypto';
import type { Agent } from 'node:http';
import { request, type IncomingHttpHeaders } from 'node:http';

/** An HTTP exchange's answer, body collected. */
export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** Header name/value pairs as received (repeated headers such as WWW-Authenticate kept apart). */
  rawHeaders: string[];
  body: Buffer;
  text: string;
}

/** One request exactly as given (method, headers, body), on `agent` (keep-alive by default). */
export function httpRequest(
  url: string,
  opts: {
    method: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    agent?: Agent;
    timeoutMs?: number;
  },
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
    const headers: Record<string, string> = { ...opts.headers };
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
      headers['Content-Length'] = String(body.length);
    }
    const req = request(
      url,
      { method: opts.method, headers, agent: opts.agent, timeout: opts.timeoutMs ?? 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('end', () => {
          const b = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: b,
            text: b.toString('utf8'),
          });
        });
        res.once('error', reject);
      },
    );
    req.once('timeout', () => req.destroy(new Error(`${opts.method} ${url}: no answer within the timeout`)));
    req.once('error', reject);
    req.end(body);
  });
}

/** `Basic base64(user:password)`. */
export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/** A Digest challenge (RFC 7616) from a `WWW-Authenticate` header. */
export interface DigestChallenge {
  realm: string;
  nonce: string;
  opaque?: string;
  algorithm: string;
  qop?: string;
  stale: boolean;
}

/** The Digest challenge among an answer's `WWW-Authenticate` headers, if any. */
export function digestChallenge(a: HttpAnswer): DigestChallenge | undefined {
  for (let i = 0; i < a.rawHeaders.length; i += 2) {
    if (a.rawHeaders[i]!.toLowerCase() !== 'www-authenticate') continue;
    const value = a.rawHeaders[i + 1]!;
    if (!/^Digest\s/i.test(value)) continue;
    const params = new Map<string, string>();
    for (const m of value.slice(7).matchAll(/([A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) {
      params.set(m[1]!.toLowerCase(), (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1'));
    }
    const realm = params.get('realm');
    const nonce = params.get('nonce');
    if (realm === undefined || nonce === undefined) continue;
    const opaque = params.get('opaque');
    const qop = params.get('qop');
    return {
      realm,
      nonce,
      ...(opaque !== undefined ? { opaque } : {}),
      algorithm: params.get('algorithm') ?? 'MD5',
      ...(qop !== undefined ? { qop } : {}),
      stale: params.get('stale')?.toLowerCase() === 'true',
    };
  }
  return undefined;
}

/**
 * The `Authorization: Digest …` value for one request (MD5, `qop=auth` when offered, as Windows'
 * WebClient sends it); `nc` counts the requests made with this nonce, starting at 1.
 */
export function digestAuthorization(opts: {
  user: string;
  password: string;
  method: string;
  uri: string;
  challenge: DigestChallenge;
  nc: number;
}): string {
  const { user, password, method, uri, challenge, nc } = opts;
  const md5 = (s: string) => createHash('md5').update(s, 'utf8').digest('hex');
  const cnonce = randomBytes(8).toString('hex');
  const ncHex = nc.toString(16).padStart(8, '0');
  let ha1 = md5(`${user}:${challenge.realm}:${password}`);
  if (/^MD5-sess$/i.test(challenge.algorithm)) ha1 = md5(`${ha1}:${challenge.nonce}:${cnonce}`);
  const ha2 = md5(`${method}:${uri}`);
  const useQop = challenge.qop?.split(',').some((q) => q.trim() === 'auth');
  const response = useQop
    ? md5(`${ha1}:${challenge.nonce}:${ncHex}:${cnonce}:auth:${ha2}`)
    : md5(`${ha1}:${challenge.nonce}:${ha2}`);
  const parts = [
    `username="${user}"`,
    `realm="${challenge.realm}"`,
    `nonce="${challenge.nonce}"`,
    `uri="${uri}"`,
    `algorithm=${challenge.algorithm}`,
    `response="${response}"`,
    ...(challenge.opaque !== undefined ? [`opaque="${challenge.opaque}"`] : []),
    ...(useQop ? ['qop=auth', `nc=${ncHex}`, `cnonce="${cnonce}"`] : []),
  ];
  return `Digest ${parts.join(', ')}`;
}
