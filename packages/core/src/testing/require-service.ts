/** True when running under CI (`CI=true` or `CI=1`). */
export function isCI(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CI === 'true' || env.CI === '1';
}

/**
 * Gate for integration tests that need a real engine or server. Returns true when it is available.
 * When it is not: under CI this throws (an integration test never skips silently there); on a laptop it
 * prints what to install and returns false, so the caller can `describe.skipIf(!ok)`.
 */
export function requireService(name: string, available: boolean, installHint: string): boolean {
  if (available) return true;
  if (isCI()) {
    throw new Error(`${name} is required for these tests under CI but is not available. ${installHint}`);
  }
  console.warn(`[beamline] skipping ${name} tests: not available. ${installHint}`);
  return false;
}
