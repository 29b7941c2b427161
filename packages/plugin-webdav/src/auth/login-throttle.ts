/** Limits of {@link LoginThrottle}. */
export interface ThrottleLimits {
  /** Failed logins within `windowMs` that block an address. */
  readonly failures: number;
  readonly windowMs: number;
  /** How long a blocked address is refused. */
  readonly blockMs: number;
}

interface Entry {
  failures: number[];
  blockedUntil: number;
}

const MAX_ADDRESSES = 100_000;

/**
 * Failed-login throttling per client address: after `failures` bad credentials within `windowMs`, the
 * address is refused for `blockMs` (429 with `Retry-After`), whatever it sends, so a password cannot be
 * guessed at the speed of the network. Success does not reset the count (a valid account must not
 * launder guesses against another).
 */
export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly limits: ThrottleLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds the address must still wait, or 0. */
  blockedFor(address: string): number {
    const entry = this.entries.get(address);
    if (!entry) return 0;
    const left = entry.blockedUntil - this.now();
    return left > 0 ? left : 0;
  }

  /** Records a failed login; returns true when the address is now blocked. */
  fail(address: string): boolean {
    const now = this.now();
    let entry = this.entries.get(address);
    if (!entry) {
      if (this.entries.size >= MAX_ADDRESSES) this.prune(now);
      entry = { failures: [], blockedUntil: 0 };
      this.entries.set(address, entry);
    }
    entry.failures = entry.failures.filter((time) => now - time < this.limits.windowMs);
    entry.failures.push(now);
    if (entry.failures.length >= this.limits.failures) {
      entry.blockedUntil = now + this.limits.blockMs;
      entry.failures = [];
      return true;
    }
    return false;
  }

  private prune(now: number): void {
    for (const [address, entry] of this.entries) {
      const live =
        entry.blockedUntil > now || entry.failures.some((time) => now - time < this.limits.windowMs);
      if (!live) this.entries.delete(address);
    }
    // Still full (an address flood): drop the oldest half, in insertion order.
    if (this.entries.size >= MAX_ADDRESSES) {
      let drop = this.entries.size / 2;
      for (const address of this.entries.keys()) {
        if (drop-- <= 0) break;
        this.entries.delete(address);
      }
    }
  }
}
