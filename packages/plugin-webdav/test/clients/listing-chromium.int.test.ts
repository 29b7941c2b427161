import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { requireService } from '@beamline/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/peers/folders.js';
import { clientTargets, startTarget, targetAvailable, type Target } from '../support/peers/target.js';
import { INSTALL_HINT } from '../support/peers/tools.js';
import { chromiumUnavailable, launchChromium } from './harness/chromium.js';
import { clientLayout, READER, type ClientLayout } from './harness/layout.js';

const hasChromium = requireService('chromium', chromiumUnavailable() === undefined, INSTALL_HINT);
const targets = hasChromium ? clientTargets().filter(targetAvailable) : [];

/** Fixed modification time of the fixtures, so the page must show this date. */
const MTIME = new Date('2026-03-14T15:09:26Z');
const DATE = /2026-03-14|14[ -]Mar[ -]2026|Mar 14,? 2026|14\/03\/2026|03\/14\/2026|14\.03\.2026/;

const FILES = [
  { name: 'data 100% #1 ü.bin', size: 5 * 1024 * 1024 },
  { name: 'README.txt', size: 1234 },
  { name: 'empty.dat', size: 0 },
];

/**
 * The ways a listing may write `size`: exact bytes (with or without thousands separators), or rounded
 * to one decimal or none in decimal (kB, MB: 1000) or binary units (KiB, MiB, Apache's K and M: 1024).
 */
function sizeLabels(size: number): RegExp {
  const labels = new Set<string>([String(size), size.toLocaleString('en'), size.toLocaleString('de')]);
  const scales: [number, string[]][] = [
    [1000, ['kB', 'KB', 'K', 'MB', 'M', 'GB', 'G']],
    [1024, ['KiB', 'K', 'MiB', 'M', 'GiB', 'G']],
  ];
  for (const [base, units] of scales) {
    for (const unit of units) {
      const power = /^[kK]/.test(unit) ? 1 : unit.startsWith('M') ? 2 : 3;
      const value = size / base ** power;
      if (value < 0.95 || value >= 1000) continue;
      for (const text of [value.toFixed(1), value.toFixed(0)]) {
        labels.add(`${text}${unit}`);
        labels.add(`${text} ${unit}`);
      }
    }
  }
  if (size < 1000) for (const unit of ['B', 'bytes', 'byte']) labels.add(`${size} ${unit}`);
  const escaped = [...labels].map((l) => l.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`(^|[\\s(])(${escaped.join('|')})($|[\\s)])`);
}

/** The text of the row (table row or list item) holding the link named `name`. */
async function rowText(page: Page, name: string): Promise<string> {
  const link = page.getByRole('link', { name, exact: true }).first();
  const row = link.locator('xpath=ancestor::*[self::tr or self::li or @role="row"][1]');
  return (await row.count()) > 0 ? row.innerText() : link.locator('xpath=..').innerText();
}

describe.skipIf(targets.length === 0).each(targets)('the HTML listing in headless Chromium (%s)', (kind) => {
  let root: string;
  let layout: ClientLayout;
  let target: Target;
  const contents = new Map<string, Buffer>();

  beforeAll(async () => {
    root = tempDir(`listing-${kind}`);
    layout = clientLayout(join(root, 'share'));
    for (const f of FILES) {
      const bytes = randomBytes(f.size);
      contents.set(f.name, bytes);
      writeFileSync(join(layout.folders.data, f.name), bytes);
      utimesSync(join(layout.folders.data, f.name), MTIME, MTIME);
    }
    mkdirSync(join(layout.folders.data, 'runs 🚀'));
    writeFileSync(join(layout.folders.data, 'runs 🚀', 'run-0001.json'), '{"score": 0.97}\n');
    writeFileSync(join(layout.folders.wip, 'draft.txt'), 'not public\n');
    target = await startTarget(kind, layout.spec, join(root, 'server'));
  });
  afterAll(async () => {
    await target?.stop();
    // Keep the screenshots (in `root`), remove the rest.
    rmSync(join(root, 'share'), { recursive: true, force: true });
    rmSync(join(root, 'server'), { recursive: true, force: true });
    rmSync(join(root, 'downloads'), { recursive: true, force: true });
  });

  it('renders /data for an anonymous browser with names, sizes and dates (screenshot saved)', async () => {
    const browser = await launchChromium(root);
    try {
      const page = await browser.newPage();
      const res = await page.goto(`${target.url}/data/`);
      expect(res?.status()).toBe(200);
      expect(res?.headers()['content-type']).toMatch(/text\/html/);
      const shot = join(root, `listing-${kind}.png`);
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(1000);
      console.log(`[plugin-webdav] listing screenshot (${kind}): ${shot}`);
      for (const f of FILES) {
        const row = await rowText(page, f.name);
        expect(row, `row of ${f.name}`).toMatch(sizeLabels(f.size));
        expect(row, `row of ${f.name}`).toMatch(DATE);
      }
      await expect(
        page
          .getByRole('link', { name: /runs 🚀/ })
          .first()
          .isVisible(),
      ).resolves.toBe(true);
    } finally {
      await browser.close();
    }
  });

  it('downloads a file with #, % and ü in its name by clicking its link, byte for byte', async () => {
    const browser = await launchChromium(root);
    try {
      const page = await browser.newPage();
      await page.goto(`${target.url}/data/`);
      const name = FILES[0]!.name;
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('link', { name, exact: true }).first().click(),
      ]);
      const saved = join(root, 'downloads', name);
      await download.saveAs(saved);
      expect(readFileSync(saved).equals(contents.get(name)!)).toBe(true);
    } finally {
      await browser.close();
    }
  });

  it('follows a folder link and shows its content', async () => {
    const browser = await launchChromium(root);
    try {
      const page = await browser.newPage();
      await page.goto(`${target.url}/data/`);
      await Promise.all([
        page.waitForLoadState('load'),
        page
          .getByRole('link', { name: /runs 🚀/ })
          .first()
          .click(),
      ]);
      await page
        .getByRole('link', { name: 'run-0001.json', exact: true })
        .first()
        .waitFor({ timeout: 10_000 });
      expect(decodeURIComponent(new URL(page.url()).pathname)).toBe('/data/runs 🚀/');
    } finally {
      await browser.close();
    }
  });

  it('/data-wip asks for a login: refused without one, listed with one', async () => {
    const anonymous = await launchChromium(root);
    try {
      const page = await anonymous.newPage();
      const res = await page.goto(`${target.url}/data-wip/`).catch((e: Error) => e);
      // Without credentials Chromium either shows the 401 page or aborts the navigation.
      if (res instanceof Error) expect(res.message).toMatch(/ERR_INVALID_AUTH_CREDENTIALS|401/);
      else expect(res?.status()).toBe(401);
      // After an aborted navigation Chromium may still be loading its error page: read it once it settles.
      let content: string | undefined;
      for (let attempt = 0; content === undefined && attempt < 40; attempt += 1)
        content = await page.content().catch(() => page.waitForTimeout(250).then(() => undefined));
      expect(content).toBeDefined();
      expect(content).not.toContain('draft.txt');
    } finally {
      await anonymous.close();
    }
    const user = await launchChromium(root, {
      httpCredentials: { username: READER.name, password: READER.password },
    });
    try {
      const page = await user.newPage();
      const res = await page.goto(`${target.url}/data-wip/`);
      expect(res?.status()).toBe(200);
      await page.getByRole('link', { name: 'draft.txt', exact: true }).first().waitFor({ timeout: 10_000 });
    } finally {
      await user.close();
    }
  });
});
