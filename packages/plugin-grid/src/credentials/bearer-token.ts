import { readFile } from 'node:fs/promises';
import { GridError } from '../errors/grid-error.js';

/** Where a discovered token came from (never the token itself, so it can be logged). */
export type TokenSource = 'option' | 'BEARER_TOKEN' | 'BEARER_TOKEN_FILE' | 'XDG_RUNTIME_DIR' | 'tmp';

/** A bearer token found by `discoverBearerToken`, and where it was found. */
export interface DiscoveredToken {
  readonly token: string;
  readonly source: TokenSource;
}

/**
 * Finds a WLCG bearer token in the order of the WLCG bearer-token-discovery specification:
 * `$BEARER_TOKEN`, the file named by `$BEARER_TOKEN_FILE`, `$XDG_RUNTIME_DIR/bt_u<uid>`,
 * `/tmp/bt_u<uid>`; the first non-empty one wins, whitespace trimmed. Called before each request so a
 * rotated token file is picked up.
 */
export async function discoverBearerToken(
  env: NodeJS.ProcessEnv = process.env,
  uid: number | undefined = process.getuid?.(),
): Promise<DiscoveredToken | undefined> {
  const candidates: Array<[TokenSource, () => Promise<string | undefined>]> = [
    ['BEARER_TOKEN', () => Promise.resolve(env.BEARER_TOKEN)],
    [
      'BEARER_TOKEN_FILE',
      async () => (env.BEARER_TOKEN_FILE ? readFile(env.BEARER_TOKEN_FILE, 'utf8') : undefined),
    ],
    [
      'XDG_RUNTIME_DIR',
      async () =>
        env.XDG_RUNTIME_DIR && uid !== undefined
          ? readFile(`${env.XDG_RUNTIME_DIR}/bt_u${uid}`, 'utf8')
          : undefined,
    ],
    ['tmp', async () => (uid !== undefined ? readFile(`/tmp/bt_u${uid}`, 'utf8') : undefined)],
  ];
  for (const [source, read] of candidates) {
    const token = (await read().catch(() => undefined))?.trim();
    if (token) return { token, source };
  }
  return undefined;
}

/** The `exp` claim (epoch seconds) of a JWT, or undefined for opaque tokens (macaroons) and bad input. */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[1] === undefined) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Fails fast on an expired JWT, before any byte moves: an expired token would otherwise surface as a
 * 401 on every replica, after connection set-up on each. `minValiditySeconds` is the estimated
 * transfer time; a token that expires sooner is refused too. Opaque tokens pass (nothing to check).
 */
export function checkTokenExpiry(token: DiscoveredToken, minValiditySeconds = 0, nowMs = Date.now()): void {
  const exp = jwtExpiry(token.token);
  if (exp === undefined) return;
  const left = exp - nowMs / 1000;
  if (left <= 0) {
    throw new GridError(
      'GRID_CREDENTIALS_EXPIRED',
      `the bearer token from ${token.source} expired ${Math.round(-left)} s ago`,
      {
        details: { source: token.source, exp },
      },
    );
  }
  if (left < minValiditySeconds) {
    throw new GridError(
      'GRID_CREDENTIALS_EXPIRED',
      `the bearer token from ${token.source} expires in ${Math.round(left)} s, before the estimated transfer time of ${Math.round(minValiditySeconds)} s`,
      { details: { source: token.source, exp } },
    );
  }
}
