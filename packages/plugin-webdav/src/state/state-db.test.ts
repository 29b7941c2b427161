import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateDb } from './state-db.js';

// Two connections to one state file stand for two worker processes.
let dir: string;
let one: StateDb;
let two: StateDb;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'webdav-state-'));
  one = new StateDb(dir);
  two = new StateDb(dir);
});
afterEach(() => {
  one.close();
  two.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('StateDb shared by two connections', () => {
  it('a nonce count is accepted once, whichever connection sees it first; a higher one after', () => {
    expect(one.useNonce('n1', 1000, 1)).toBe(true);
    expect(two.useNonce('n1', 1000, 1)).toBe(false);
    expect(one.useNonce('n1', 1000, 1)).toBe(false);
    expect(two.useNonce('n1', 1000, 2)).toBe(true);
    expect(one.useNonce('n1', 1000, 2)).toBe(false);
  });

  it('forgetting nonces beyond the cap raises the floor past them (they turn stale, never replayable)', () => {
    for (let i = 1; i <= 10; i += 1) expect(one.useNonce(`n${i}`, i * 1000, 1)).toBe(true);
    expect(two.nonceFloor()).toBe(0);
    one.pruneNonces(0, 5); // keeps the newest 4 (90 % of 5)
    expect(two.nonceFloor()).toBe(6000);
    expect(two.useNonce('n7', 7000, 1)).toBe(false); // still known: its count holds
  });

  it('failed logins from one address add up across connections and block it once', () => {
    const at = 10_000;
    expect(one.failLogin('10.0.0.1', at, at - 60_000, 3, at + 5_000)).toBe(false);
    expect(two.failLogin('10.0.0.1', at + 1, at - 60_000, 3, at + 5_000)).toBe(false);
    expect(one.failLogin('10.0.0.2', at + 2, at - 60_000, 3, at + 5_000)).toBe(false);
    expect(two.failLogin('10.0.0.1', at + 3, at - 60_000, 3, at + 5_003)).toBe(true);
    expect(one.blockedUntil('10.0.0.1')).toBe(at + 5_003);
    expect(one.blockedUntil('10.0.0.2')).toBe(0);
    // Failures older than the window do not count.
    expect(one.failLogin('10.0.0.3', at, at - 1, 2, at + 1)).toBe(false);
    expect(two.failLogin('10.0.0.3', at + 100_000, at + 50_000, 2, at + 100_001)).toBe(false);
  });

  it('reservations are seen by the other connection and released by pid', () => {
    const id = one.reserve('data', 700);
    expect(two.reserved('data')).toBe(700);
    one.growReservation(id, 300);
    expect(two.reserved('data')).toBe(1000);
    two.releaseReservations(process.pid + 1);
    expect(one.reserved('data')).toBe(1000);
    two.releaseReservations(process.pid);
    expect(one.reserved('data')).toBe(0);
  });

  it('a secret is made once and the same for both', () => {
    expect(one.secret('k').equals(two.secret('k'))).toBe(true);
    expect(one.secret('k')).toHaveLength(32);
  });

  it('the locks generation and data_version tell one connection of the other one changes', () => {
    const seen = one.dataVersion();
    const version = one.locksVersion();
    two.write(() => two.bumpLocksVersion());
    expect(one.dataVersion()).not.toBe(seen);
    expect(one.locksVersion()).toBe(version + 1);
  });
});
