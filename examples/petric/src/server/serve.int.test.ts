import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireService } from '@beamline/core/testing';
import { hashPassword } from '@beamline/plugin-webdav';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeRun } from '../../test/support/logs.js';
import { startServer, type PetricServer } from './serve.js';

const CHROMIUM = '/usr/bin/chromium';
const run = requireService(
  'chromium',
  existsSync(CHROMIUM),
  'Debian: apt-get install chromium (examples/petric/scripts/setup-test-env.sh).',
);

describe('the challenge server on one port', () => {
  const root = mkdtempSync(join(tmpdir(), 'petric-serve-'));
  let server: PetricServer;
  const alice = `Basic ${Buffer.from('alice:s3cret pass').toString('base64')}`;

  beforeAll(async () => {
    writeRun(join(root, 'logs', 'beta', 'v1', 'nema'), 4); // 50 s
    writeRun(join(root, 'logs', 'alpha', 'v1', 'nema'), 1); // 20 s
    writeRun(join(root, 'logs', 'gamma', 'v2', 'nema'), undefined); // never
    mkdirSync(join(root, 'data', 'nema'), { recursive: true });
    writeFileSync(join(root, 'data', 'nema', 'prompts.hs'), 'header\n');
    mkdirSync(join(root, 'extra'));
    writeFileSync(join(root, 'extra', 'shared.txt'), 'one level up\n');
    symlinkSync('../extra', join(root, 'data', 'extra')); // petric/X -> ../X: followed
    symlinkSync('../../', join(root, 'data', 'escape')); // two levels up: never followed
    mkdirSync(join(root, 'data-wip'));
    writeFileSync(join(root, 'data-wip', 'draft.txt'), 'not public\n');
    server = await startServer(root, {
      port: 0,
      refreshSeconds: 1,
      users: { alice: { password: await hashPassword('s3cret pass') } },
    });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const get = (path: string, init: RequestInit = {}) => fetch(server.url + path, init);

  it('serves the data share with the original rules: /data open to read, written with a login; /data-wip only with a login', async () => {
    expect((await get('/data/nema/prompts.hs')).status).toBe(200);
    expect(await (await get('/data/extra/shared.txt')).text()).toBe('one level up\n');
    expect((await get('/data/escape/etc/passwd')).status).toBeGreaterThanOrEqual(400);
    expect((await get('/data/new.txt', { method: 'PUT', body: 'x' })).status).toBe(401);
    expect(
      (await get('/data/new.txt', { method: 'PUT', body: 'x', headers: { authorization: alice } })).status,
    ).toBe(201);
    expect((await get('/data-wip/draft.txt')).status).toBe(401);
    expect(await (await get('/data-wip/draft.txt', { headers: { authorization: alice } })).text()).toBe(
      'not public\n',
    );
  });

  it('serves /logs read-only for TensorBoard users', async () => {
    expect((await get('/logs/alpha/v1/nema/')).status).toBe(200);
    const put = await get('/logs/alpha/v1/nema/x', {
      method: 'PUT',
      body: 'x',
      headers: { authorization: alice },
    });
    expect(put.status).toBe(403);
    expect((await get('/logs/x', { method: 'DELETE' })).status).toBeGreaterThanOrEqual(401);
  });

  it('answers the leaderboard files, and refuses what is not there', async () => {
    const json = (await (await get('/leaderboard/leaderboard.json')).json()) as {
      overall: { algorithm: string }[];
    };
    expect(json.overall.map((o) => o.algorithm)).toEqual(['alpha/v1', 'beta/v1', 'gamma/v2']);
    expect(await (await get('/leaderboard/leaderboard.md')).text()).toContain('1) alpha/v1');
    expect((await get('/leaderboard/ranks.svg')).headers.get('content-type')).toBe('image/svg+xml');
    expect((await get('/leaderboard', { method: 'POST' })).status).toBe(405);
    expect((await get('/nothing')).status).toBe(404);
    expect((await get('/leaderboard/', { redirect: 'manual' })).headers.get('location')).toBe('/leaderboard');
  });

  describe.runIf(run)('in headless Chromium', () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu'],
      });
    });
    afterAll(async () => browser?.close());

    it('renders the order, the plot and the drill-down, and updates itself as results arrive', async () => {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      await page.goto(server.url + '/leaderboard');
      const order = () => page.locator('#overall tbody tr td:nth-child(2)').allInnerTexts();
      expect(await order()).toEqual(['alpha/v1', 'beta/v1', 'gamma/v2']);
      expect(await page.locator('figure svg g.bar').count()).toBe(2);
      const shot = join(root, 'leaderboard.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(readPngSize(shot)).toBeGreaterThan(1000);

      await page.locator('#overall a', { hasText: 'gamma/v2' }).click();
      expect(page.url()).toMatch(/#team-gamma$/);
      await expect.poll(() => page.locator('#team-gamma td').first().innerText()).toBe('v2');

      // A new, faster result arrives: the open page shows it without a reload.
      writeRun(join(root, 'logs', 'delta', 'v1', 'nema'), 0); // 10 s
      await expect.poll(order, { timeout: 20_000 }).toEqual(['delta/v1', 'alpha/v1', 'beta/v1', 'gamma/v2']);
      expect(errors).toEqual([]);
      await page.close();
    });
  });
});

function readPngSize(path: string): number {
  const bytes = readFileSync(path);
  expect(bytes.subarray(1, 4).toString()).toBe('PNG');
  return bytes.length;
}
