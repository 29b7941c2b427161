import type { StateDb } from '../state/state-db.js';

/** Limits of {@link LoginThrottle}. */
export interface ThrottleLimits {
  /** Failed logins within `windowMs` that block an address. */
  readonly failures: number;
  readonly windowMs: number;
  /** How long a blocked address is refused. */
  readonly blockMs: number;
}

/** Failed logins kept at most (all addresses together); beyond, the oldest are forgotten. */
const MAX_FAILURES = 200_000;
/** How often old failures and ended blocks are removed from the state database. */
const PRUNE_EVERY_MS = 60_000;

/**
 * Failed-login throttling per client address: after `failures` bad credentials within `windowMs`, the
 * address is refused for `blockMs` (429 with `Retry-After`), whatever it sends, so a password cannot be
 * guessed at the speed of the network. Success does not reset the count (a valid account must not
 * launder guesses against another). The failures and blocks live in the state database, counted in
 * one transaction, so every process serving the share sees the same count: N worker processes do not
 * give an attacker N times the attempts. Nothing is cached (a stale "not blocked" would be a hole):
 * a request with credentials costs one indexed read.
 */
export class LoginThrottle {
  private prunedAt = 0;

  constructor(
    private readonly limits: ThrottleLimits,
    private readonly db: StateDb,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds the address must still wait, or 0. */
  blockedFor(address: string): number {
    const left = this.db.blockedUntil(address) - this.now();
    return left > 0 ? left : 0;
  }

  /** Records a failed login; returns true when the address is now blocked. */
  fail(address: string): boolean {
    const now = this.now();
    if (now - this.prunedAt >= PRUNE_EVERY_MS) {
      this.prunedAt = now;
      this.db.pruneLogins(now - this.limits.windowMs, now, MAX_FAILURES);
    }
    return this.db.failLogin(
      address,
      now,
      now - this.limits.windowMs,
      this.limits.failures,
      now + this.limits.blockMs,
    );
  }
}
