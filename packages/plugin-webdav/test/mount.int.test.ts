import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveShareConfig } from '../src/config/resolve-share-config.js';
import { attachShares, webdavExpress, webdavFastifyFactory } from '../src/server/mount.js';
import { ShareServer } from '../src/server/share-server.js';
import { basic, securityFixture, type SecurityFixture } from './support/fixture.js';
import { rawRequest } from './support/raw-http.js';

let fixture: SecurityFixture;
let shares: ShareServer;

beforeAll(async () => {
  fixture = await securityFixture();
  shares = await ShareServer.open(
    resolveShareConfig({ ...fixture.config, stateDir: join(fixture.root, 'state') }),
  );
});

afterAll(async () => {
  await shares?.close(1_000);
  fixture?.cleanup();
});

function listening(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    );
  });
}

function closed(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

const LOCK_BODY =
  '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>' +
  '<D:locktype><D:write/></D:locktype><D:owner>mount test</D:owner></D:lockinfo>';

/** The same WebDAV session under `/dav` of a host application, whatever the application is. */
async function davSession(base: string, name: string, sharesAnswerContinue = true): Promise<void> {
  // The application's own route still answers.
  const board = await fetch(`${base}/leaderboard`);
  expect(board.status).toBe(200);
  expect(await board.text()).toBe('leaderboard');
  // Anonymous listing (HTML) and download under the prefix; hrefs carry the prefix.
  const listing = await fetch(`${base}/dav/data/`, { headers: { accept: 'text/html' } });
  expect(listing.status).toBe(200);
  expect(await listing.text()).toContain('href="/dav/data/file.txt"');
  expect(await (await fetch(`${base}/dav/data/file.txt`)).text()).toBe('public data\n');
  const propfind = await fetch(`${base}/dav/data/`, { method: 'PROPFIND', headers: { depth: '1' } });
  expect(propfind.status).toBe(207);
  expect(await propfind.text()).toContain('<D:href>/dav/data/file.txt</D:href>');
  // A write with a login, a lock (XML body read by the share server, not the application), MOVE.
  const auth = { authorization: basic('writer') };
  const file = `/dav/data/${name}.txt`;
  expect((await fetch(`${base}${file}`, { method: 'PUT', headers: auth, body: name })).status).toBe(201);
  const lock = await fetch(`${base}${file}`, {
    method: 'LOCK',
    headers: { ...auth, 'content-type': 'application/xml', timeout: 'Second-60' },
    body: LOCK_BODY,
  });
  expect(lock.status).toBe(200);
  const token = lock.headers.get('lock-token') ?? '';
  expect(await lock.text()).toContain('<D:href>/dav/data/');
  expect((await fetch(`${base}${file}`, { method: 'PUT', headers: auth, body: 'x' })).status).toBe(423);
  expect(
    (await fetch(`${base}${file}`, { method: 'UNLOCK', headers: { ...auth, 'lock-token': token } })).status,
  ).toBe(204);
  const moved = await fetch(`${base}${file}`, {
    method: 'MOVE',
    headers: { ...auth, destination: `${base}/dav/data-wip/${name}.txt` },
  });
  expect(moved.status).toBe(201);
  expect(readFileSync(join(fixture.wip, `${name}.txt`), 'utf8')).toBe(name);
  // Without a login the write is refused before the body is sent (Expect: 100-continue answered 401):
  // where the shares see `checkContinue` (attachShares, the Fastify factory). Under Express, Node has
  // answered 100 itself before the application runs; the write is still refused.
  const refused = await rawRequest(
    base,
    'PUT /dav/data/anon.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n' +
      'Expect: 100-continue\r\nContent-Length: 5\r\n\r\n',
  );
  expect(refused.status).toBe(sharesAnswerContinue ? 401 : 100);
  if (!sharesAnswerContinue) expect(refused.text).toContain('HTTP/1.1 401');
  // Outside the shares but under the prefix: the share server's 404, not the application's.
  expect((await fetch(`${base}/dav/nothing`)).status).toBe(404);
}

describe('mounted under a path of an existing server', () => {
  it('Node http: attachShares sends /dav/… to the shares, the rest to the application', async () => {
    const server = createServer((req, res) => {
      res.statusCode = req.url === '/leaderboard' ? 200 : 404;
      res.end(req.url === '/leaderboard' ? 'leaderboard' : 'not here');
    });
    const detach = attachShares(server, shares, { prefix: '/dav' });
    const base = await listening(server);
    try {
      await davSession(base, 'node-http');
      expect((await fetch(`${base}/other`)).status).toBe(404);
      expect(server.requestTimeout, 'multi-GB uploads are not cut after 300 s').toBe(0);
      detach();
      expect((await fetch(`${base}/dav/data/file.txt`)).status, 'detached: the application again').toBe(404);
    } finally {
      await closed(server);
    }
  });

  it('Express 5: app.use("/dav", webdavExpress(shares)) beside routes and a JSON body parser', async () => {
    const app = express();
    app.use(express.json());
    app.get('/leaderboard', (_req, res) => {
      res.send('leaderboard');
    });
    app.use('/dav', webdavExpress(shares));
    const server = createServer(app);
    const base = await listening(server);
    try {
      await davSession(base, 'express', false);
    } finally {
      await closed(server);
    }
  });

  it('Fastify 5: serverFactory hands /dav/… to the shares before Fastify routes', async () => {
    const app = Fastify({ serverFactory: webdavFastifyFactory(shares, { prefix: '/dav' }) });
    app.get('/leaderboard', () => 'leaderboard');
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      await davSession(base, 'fastify');
      expect((await fetch(`${base}/missing`)).status).toBe(404);
    } finally {
      await app.close();
    }
  });
});
