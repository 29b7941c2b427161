import { execFile } from 'node:child_process';
import { SlurmError } from '../errors/slurm-error.js';

/** A token, or a function that returns a current one (called again when Slurm rejects the one it gave). */
export type TokenSource = string | (() => string | Promise<string>);

/** What the plugin reads from a JWT without verifying it (only slurmctld can): user and expiry. */
export interface TokenClaims {
  /** `sun`: the Slurm user name the token was issued for. */
  user?: string;
  /** `exp`: expiry, epoch milliseconds. */
  expiresAt?: number;
}

/** The claims of a JWT (`header.payload.signature`), or {} when it is not one. */
export function tokenClaims(token: string): TokenClaims {
  const payload = token.split('.')[1];
  if (payload === undefined) return {};
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    return {
      ...(typeof claims.sun === 'string' ? { user: claims.sun } : {}),
      ...(typeof claims.exp === 'number' ? { expiresAt: claims.exp * 1000 } : {}),
    };
  } catch {
    return {};
  }
}

/**
 * Hands out the token for each request: a fixed one is checked for expiry before it is sent (slurmrestd
 * 22.05 cannot say why it refused a token); a function is asked for a new one when the current one is
 * about to expire or was rejected.
 */
export class TokenHolder {
  private current: Promise<string> | undefined;

  constructor(private readonly source: TokenSource | undefined) {}

  /** Whether there is a token at all (a Unix socket with local authentication needs none). */
  get configured(): boolean {
    return this.source !== undefined;
  }

  /** The token to send; `SLURM_TOKEN_EXPIRED` for a fixed token past its `exp`. */
  async get(): Promise<string> {
    const token = await (this.current ??= this.fetch());
    const { expiresAt } = tokenClaims(token);
    if (expiresAt === undefined || expiresAt > Date.now() + 5_000) return token;
    if (typeof this.source === 'function') {
      const fresh = await this.refresh();
      const freshExpiry = tokenClaims(fresh).expiresAt;
      if (freshExpiry === undefined || freshExpiry > Date.now()) return fresh;
    }
    throw new SlurmError(
      'SLURM_TOKEN_EXPIRED',
      `the Slurm token expired at ${new Date(expiresAt).toISOString()}; get a new one (scontrol token lifespan=SECONDS) or give the runner a function that returns a current token`,
      { details: { expiresAt: new Date(expiresAt).toISOString() } },
    );
  }

  /** Asks a token function for a new token; a fixed token is returned as it is (checked for expiry). */
  async refresh(): Promise<string> {
    if (typeof this.source !== 'function') return this.get();
    this.current = this.fetch();
    return this.current;
  }

  /** Whether a rejected token may be replaced by asking again. */
  get refreshable(): boolean {
    return typeof this.source === 'function';
  }

  private async fetch(): Promise<string> {
    const source = this.source;
    if (source === undefined) {
      throw new SlurmError(
        'SLURM_TOKEN_MISSING',
        'no Slurm token: set SLURM_JWT (export $(scontrol token)) or pass `token` to the Slurm runner',
      );
    }
    let token: string;
    try {
      token = typeof source === 'function' ? await source() : source;
    } catch (error) {
      this.current = undefined;
      throw new SlurmError('SLURM_TOKEN_MISSING', `the Slurm token function failed: ${String(error)}`, {
        cause: error,
      });
    }
    // `scontrol token` prints `SLURM_JWT=…`; accept that line as it is.
    const trimmed = token.trim().replace(/^SLURM_JWT=/, '');
    if (trimmed === '') {
      this.current = undefined;
      throw new SlurmError('SLURM_TOKEN_MISSING', 'the Slurm token is empty');
    }
    return trimmed;
  }
}

/** Options of {@link scontrolToken}. */
export interface ScontrolTokenOptions {
  /** Lifespan of each token in seconds; default 3600 (Slurm's own default is 1800). */
  lifespanSeconds?: number;
  /** Issue the token for this user (only SlurmUser and root may); default the invoking user. */
  user?: string;
  /** The scontrol program; default `scontrol` on the PATH. */
  command?: string;
}

/**
 * A token function for a machine with Slurm's client tools (a login node): each call runs
 * `scontrol token lifespan=…` (authenticated by munge), so a long pipeline never runs out of token; the
 * runner asks again shortly before a token expires and when Slurm rejects one.
 */
export function scontrolToken(options: ScontrolTokenOptions = {}): () => Promise<string> {
  const args = ['token', `lifespan=${options.lifespanSeconds ?? 3600}`];
  if (options.user !== undefined) args.push(`username=${options.user}`);
  const command = options.command ?? 'scontrol';
  return () =>
    new Promise<string>((resolve, reject) => {
      execFile(command, args, { timeout: 30_000, encoding: 'utf8' }, (error, stdout, stderr) => {
        const token = /SLURM_JWT=(\S+)/.exec(stdout)?.[1];
        if (error === null && token !== undefined) {
          resolve(token);
          return;
        }
        reject(
          new Error(
            `${command} ${args.join(' ')} gave no token: ${(stderr || stdout || (error?.message ?? '')).trim()}`,
          ),
        );
      });
    });
}
