import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import { openPool, schemaIdentifier } from '../database/connect.js';
import { PostgresError } from '../errors/postgres-error.js';

/** A worker token as `token list` shows it (never the token itself, which is not stored). */
export interface GatewayTokenInfo {
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** What two processes creating the schema or table at once may see: it is there. */
const ALREADY_THERE = new Set(['23505', '42P06', '42P07']);

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Tokens start with this, so a leaked one is recognisable (secret scanners, logs). */
const PREFIX = 'blg_';

/**
 * The gateway's per-worker tokens, in PostgreSQL (`<schema>.gateway_tokens`). A token is 256 random
 * bits; only its SHA-256 is stored. A slow hash (scrypt) protects guessable passwords; a 256-bit random
 * token cannot be guessed, so a fast hash loses nothing and lets every request find its token by an
 * indexed lookup without spending CPU per call. A revoked token is refused from the next request on:
 * nothing is cached.
 */
export class GatewayTokens {
  readonly #lastUsed = new Map<string, number>();

  constructor(
    private readonly pool: pg.Pool,
    /** Quoted schema identifier. */
    private readonly schema: string,
  ) {}

  /**
   * Connects to the queue's database (a wrong password or an unreachable server is a clear error here)
   * for `beamline gateway token …`; `close` ends the connection.
   */
  static async open(options: {
    url: string;
    schema?: string;
  }): Promise<{ tokens: GatewayTokens; close: () => Promise<void> }> {
    const schema = schemaIdentifier(options.schema ?? 'beamline', 'schema');
    const pool = await openPool({ url: options.url, maxConnections: 2, synchronousCommit: true });
    const tokens = new GatewayTokens(pool, schema);
    try {
      await tokens.ensureSchema();
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    return { tokens, close: () => pool.end() };
  }

  /** Creates the table if it is not there. */
  async ensureSchema(): Promise<void> {
    await this.pool.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`).catch((error: unknown) => {
      // Two processes creating it at once: the loser sees a unique violation or a duplicate; it is there.
      if (!ALREADY_THERE.has((error as { code?: string }).code ?? '')) throw error;
    });
    await this.pool
      .query(
        `CREATE TABLE IF NOT EXISTS ${this.schema}.gateway_tokens (
           name text PRIMARY KEY,
           hash text NOT NULL UNIQUE,
           created_at timestamptz NOT NULL DEFAULT now(),
           last_used_at timestamptz,
           revoked_at timestamptz
         )`,
      )
      .catch((error: unknown) => {
        if (!ALREADY_THERE.has((error as { code?: string }).code ?? '')) throw error;
      });
  }

  /**
   * A new token for `name`, returned once (only its hash is kept). A name in use (even revoked) is an
   * error: revoked names stay listed, so that what a log names stays explainable.
   */
  async add(name: string): Promise<string> {
    checkName(name);
    const token = PREFIX + randomBytes(32).toString('base64url');
    try {
      await this.pool.query(`INSERT INTO ${this.schema}.gateway_tokens (name, hash) VALUES ($1, $2)`, [
        name,
        hashToken(token),
      ]);
    } catch (error) {
      if ((error as { code?: string }).code === '23505') {
        throw new PostgresError(
          'POSTGRES_CONFIG_INVALID',
          `a gateway token named ${JSON.stringify(name)} exists already (names are not reused, even revoked ones): choose another name`,
        );
      }
      throw error;
    }
    return token;
  }

  async list(): Promise<GatewayTokenInfo[]> {
    const { rows } = await this.pool.query<{
      name: string;
      created_at: Date;
      last_used_at: Date | null;
      revoked_at: Date | null;
    }>(`SELECT name, created_at, last_used_at, revoked_at FROM ${this.schema}.gateway_tokens ORDER BY name`);
    return rows.map((row) => ({
      name: row.name,
      createdAt: row.created_at,
      lastUsedAt: row.last_used_at,
      revokedAt: row.revoked_at,
    }));
  }

  /** Revokes `name`'s token; false when there is no such token (or it was revoked already). */
  async revoke(name: string): Promise<boolean> {
    checkName(name);
    const result = await this.pool.query(
      `UPDATE ${this.schema}.gateway_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL`,
      [name],
    );
    return result.rowCount === 1;
  }

  /** The name of a valid (known, not revoked) token; undefined otherwise. */
  async verify(token: string): Promise<string | undefined> {
    if (!token.startsWith(PREFIX) || token.length > 200) return undefined;
    const hash = hashToken(token);
    const { rows } = await this.pool.query<{ name: string; hash: string }>(
      `SELECT name, hash FROM ${this.schema}.gateway_tokens WHERE hash = $1 AND revoked_at IS NULL`,
      [hash],
    );
    const row = rows[0];
    if (row === undefined || !timingSafeEqual(Buffer.from(row.hash), Buffer.from(hash))) return undefined;
    // When it was last used, at most once a minute per token (a write per request would cost more than the call).
    const now = Date.now();
    if ((this.#lastUsed.get(row.name) ?? 0) < now - 60_000) {
      this.#lastUsed.set(row.name, now);
      await this.pool
        .query(`UPDATE ${this.schema}.gateway_tokens SET last_used_at = now() WHERE name = $1`, [row.name])
        .catch(() => undefined);
    }
    return row.name;
  }
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function checkName(name: string): void {
  if (!NAME.test(name)) {
    throw new PostgresError(
      'POSTGRES_CONFIG_INVALID',
      `token name: expected 1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit), got ${JSON.stringify(name)}`,
    );
  }
}
