import { existsSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's Chromium; playwright-core drives it, no browser is ever downloaded. */
const CHROMIUM = '/usr/bin/chromium';

/** Why headless Chromium cannot run here, or undefined. */
export function chromiumUnavailable(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (Debian: chromium)`;
}

/** Flags that keep a headless Chromium quiet and offline (no updates, no first-run, no GPU, no sandbox as root). */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
] as const;

/**
 * Starts Debian's Chromium headless with a fresh profile (`<dir>/profile`, the `--user-data-dir`) and
 * downloads allowed; `httpCredentials` answers Basic challenges like a user typing them.
 */
export async function launchChromium(
  dir: string,
  opts: { httpCredentials?: { username: string; password: string } } = {},
): Promise<BrowserContext> {
  const profile = mkdtempSync(join(dir, 'profile-'));
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_FLAGS],
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    ...(opts.httpCredentials ? { httpCredentials: opts.httpCredentials } : {}),
  });
}
