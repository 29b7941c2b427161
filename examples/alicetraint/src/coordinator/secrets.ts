import { argon2id, argon2Verify } from 'hash-wasm';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Argon2id cost: the web interface's (64 MiB, 2 lanes, 1 pass). */
export interface Argon2Cost {
  readonly memoryKiB: number;
  readonly parallelism: number;
  readonly iterations: number;
}

/** The web interface's Argon2id cost. */
export const DEFAULT_ARGON2: Argon2Cost = { memoryKiB: 64 * 1024, parallelism: 2, iterations: 1 };

/** A new machine secret: 32 random bytes, base64url (visible ASCII, header-safe). */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** The Argon2id hash (PHC string) stored instead of the secret. */
export function hashSecret(secret: string, cost: Argon2Cost = DEFAULT_ARGON2): Promise<string> {
  return argon2id({
    password: secret,
    salt: randomBytes(16),
    parallelism: cost.parallelism,
    iterations: cost.iterations,
    memorySize: cost.memoryKiB,
    hashLength: 32,
    outputType: 'encoded',
  });
}

/**
 * Checks machine secrets against their Argon2id hashes. The original verified the 64 MiB hash on every
 * call; here a secret that verified is remembered (as a SHA-256 of machine, hash and secret, never the
 * secret) for `ttlMs`, so a poll costs a hash lookup, and a machine whose hash changes (a new secret)
 * or that is removed is refused at once. Verifications run one at a time, so a burst of calls cannot
 * ask for 64 MiB each at once; failures are not remembered.
 */
export class SecretVerifier {
  private readonly verified = new Map<string, number>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly ttlMs = 10 * 60_000) {}

  async verify(machineId: number, hash: string, secret: string): Promise<boolean> {
    const key = createHash('sha256').update(`${machineId}\0${hash}\0${secret}`).digest();
    const keyText = key.toString('base64');
    const until = this.verified.get(keyText);
    if (until !== undefined && until > Date.now()) return true;
    const ok = await this.serial(() => argon2Verify({ password: secret, hash }).catch(() => false));
    if (ok) {
      if (this.verified.size > 10_000) this.verified.clear();
      this.verified.set(keyText, Date.now() + this.ttlMs);
    }
    return ok;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

/** Constant-time comparison of two tokens (the admin token). */
export function sameToken(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}
