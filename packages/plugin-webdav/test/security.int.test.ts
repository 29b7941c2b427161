import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, REALM, securityFixture, TOKEN, USERS, type SecurityFixture } from './support/fixture.js';
import { rawRequest, requestText } from './support/raw-http.js';
import { startShare, type StartedShare } from './support/start-share.js';

let fixture: SecurityFixture;
let share: StartedShare;
let pid: number;

async function alive(): Promise<void> {
  const response = await fetch(`${share.url}/data/file.txt`, { signal: AbortSignal.timeout(10_000) });
  expect(response.status, 'the server still answers').toBe(200);
  expect(await response.text()).toBe('public data\n');
  expect(share.pid).toBe(pid);
  expect(() => process.kill(pid, 0), 'the same server process is alive').not.toThrow();
}

function send(
  method: string,
  path: string,
  init: { auth?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
) {
  return fetch(`${share.url}${path}`, {
    method,
    headers: { ...(init.auth && { authorization: init.auth }), ...init.headers },
    ...(init.body !== undefined && { body: init.body }),
    signal: AbortSignal.timeout(20_000),
  });
}

async function status(method: string, path: string, init: Parameters<typeof send>[2] = {}): Promise<number> {
  const response = await send(method, path, init);
  await response.arrayBuffer();
  return response.status;
}

beforeAll(async () => {
  fixture = await securityFixture();
  share = await startShare({ ...fixture.config, accessLog: { file: join(fixture.root, 'access.log') } });
  pid = share.pid;
});

afterAll(async () => {
  await share?.stop();
  fixture?.cleanup();
});

describe('rules of /data and /data-wip', () => {
  it.each([
    ['anonymous', undefined, 'GET', '/data/file.txt', 200],
    ['anonymous', undefined, 'PROPFIND', '/data/', 207],
    ['anonymous', undefined, 'GET', '/data/', 200],
    ['anonymous', undefined, 'PUT', '/data/anon.txt', 401],
    ['anonymous', undefined, 'DELETE', '/data/file.txt', 401],
    ['anonymous', undefined, 'MKCOL', '/data/anon-dir', 401],
    ['anonymous', undefined, 'PROPPATCH', '/data/file.txt', 401],
    ['anonymous', undefined, 'LOCK', '/data/file.txt', 401],
    ['anonymous', undefined, 'GET', '/data-wip/secret.txt', 401],
    ['anonymous', undefined, 'GET', '/data-wip/', 401],
    ['anonymous', undefined, 'PROPFIND', '/data-wip/', 401],
    ['anonymous', undefined, 'PUT', '/data-wip/anon.txt', 401],
    ['reader', basic('reader'), 'GET', '/data/file.txt', 200],
    ['reader', basic('reader'), 'PUT', '/data/reader.txt', 403],
    ['reader', basic('reader'), 'DELETE', '/data/file.txt', 403],
    ['reader', basic('reader'), 'GET', '/data-wip/secret.txt', 200],
    ['reader', basic('reader'), 'PUT', '/data-wip/reader.txt', 403],
    ['reader', basic('reader'), 'MKCOL', '/data-wip/reader-dir', 403],
    ['writer', basic('writer'), 'PUT', '/data/writer.txt', 201],
    ['writer', basic('writer'), 'PUT', '/data-wip/writer.txt', 201],
    ['writer', basic('writer'), 'MKCOL', '/data-wip/writer-dir', 201],
    ['writer', basic('writer'), 'GET', '/data-wip/secret.txt', 200],
    ['token ci (@writers)', `Bearer ${TOKEN}`, 'PUT', '/data/token.txt', 201],
    [
      'a wrong password',
      `Basic ${Buffer.from('writer:nope').toString('base64')}`,
      'GET',
      '/data/file.txt',
      401,
    ],
    ['a wrong token', 'Bearer not-the-token', 'GET', '/data/file.txt', 401],
  ])('%s: %s %s → %i', async (_who, auth, method, path, expected) => {
    const body = method === 'PUT' ? 'x' : method === 'PROPPATCH' || method === 'LOCK' ? '<bad/>' : undefined;
    expect(
      await status(method, path, {
        ...(auth && { auth }),
        ...(body !== undefined && { body }),
        headers: { depth: '1' },
      }),
    ).toBe(expected);
  });

  it('never challenges an anonymous read of /data, challenges /data-wip with Basic and Digest', async () => {
    const open = await send('GET', '/data/file.txt');
    expect(open.headers.get('www-authenticate')).toBeNull();
    const closed = await send('GET', '/data-wip/secret.txt');
    expect(closed.status).toBe(401);
    const challenge = closed.headers.get('www-authenticate') ?? '';
    expect(challenge).toContain('Basic realm="Beamline test"');
    expect(challenge).toContain('Digest realm="Beamline test"');
    await closed.arrayBuffer();
  });

  it('lists only the shares a principal may read at the root', async () => {
    const anonymous = await (await send('GET', '/', { headers: { accept: 'application/json' } })).json();
    expect((anonymous as { entries: { name: string }[] }).entries.map((e) => e.name)).toEqual(['data']);
    const reader = await (
      await send('GET', '/', { auth: basic('reader'), headers: { accept: 'application/json' } })
    ).json();
    expect((reader as { entries: { name: string }[] }).entries.map((e) => e.name).sort()).toEqual([
      'data',
      'data-wip',
    ]);
  });
});

describe('path traversal', () => {
  it.each([
    ['/data/../data-wip/secret.txt', 400],
    ['/data/%2e%2e/data-wip/secret.txt', 400],
    ['/data/%2E%2e/%2e%2E/etc/passwd', 400],
    ['/data/..%2fdata-wip%2fsecret.txt', 400],
    ['/data/..%2Fdata-wip/secret.txt', 400],
    ['/data/%252e%252e/data-wip/secret.txt', 404],
    ['/data/%252e%252e%252fdata-wip%252fsecret.txt', 404],
    ['/data/..\\data-wip\\secret.txt', 400],
    ['/data/..%5cdata-wip%5csecret.txt', 400],
    ['/data/%c0%ae%c0%ae/data-wip/secret.txt', 400],
    ['/data/%e0%80%ae%e0%80%ae/etc/passwd', 400],
    ['/data/file.txt%00', 400],
    ['/data/%00/file.txt', 400],
    ['/data/file.txt%00.png', 400],
    ['/data/sub/../../data-wip/secret.txt', 400],
    ['/data/./file.txt', 400],
  ])('GET %s (as is) → %i, nothing from outside', async (target, expected) => {
    const response = await rawRequest(share.url, requestText('GET', target));
    expect(response.status).toBe(expected);
    expect(response.text).not.toContain('work in progress');
    expect(response.text).not.toMatch(/root:.*:0:0/);
    await alive();
  });

  it('refuses NUL and traversal in a PUT name and a Destination, writing nothing', async () => {
    const put = await rawRequest(
      share.url,
      requestText('PUT', '/data/evil%00.txt', [`Authorization: ${basic('writer')}`], 'x'),
    );
    expect(put.status).toBe(400);
    const move = await rawRequest(
      share.url,
      requestText('MOVE', '/data/file.txt', [
        `Authorization: ${basic('writer')}`,
        // The Host of requestText (`127.0.0.1`), so the request is refused for the path, not the host.
        'Destination: http://127.0.0.1/data/%2e%2e/outside.txt',
      ]),
    );
    expect(move.status).toBe(400);
    expect(readdirSync(join(fixture.data, '..')).sort()).toEqual(['petric', 'petric-wip', 'sibling']);
    await alive();
  });

  it('refuses a COPY to another server with 502', async () => {
    const response = await send('COPY', '/data/file.txt', {
      auth: basic('writer'),
      headers: { destination: 'http://other.example/data/x.txt' },
    });
    expect(response.status).toBe(502);
  });
});

describe('symbolic links', () => {
  it.each([
    ['absolute', '/data/escape/passwd', undefined, 403],
    ['two levels up', '/data/up2/private.txt', undefined, 403],
    ['chained out', '/data/chain/private.txt', undefined, 403],
    ['absolute, even when it points inside', '/data/abs_inside/inner.txt', undefined, 403],
    ['into /data-wip, anonymous', '/data/rel_wip/secret.txt', undefined, 401],
    ['into /data-wip, reader', '/data/rel_wip/secret.txt', basic('reader'), 200],
    ['relative inside the share', '/data/inside/inner.txt', undefined, 200],
    ['one level up, outside any share', '/data/sib/shared.txt', undefined, 200],
  ])('%s: GET %s → %i', async (_what, path, auth, expected) => {
    const response = await send('GET', path, auth ? { auth } : {});
    expect(response.status).toBe(expected);
    const text = await response.text();
    expect(text).not.toContain('two levels up');
    expect(text).not.toMatch(/root:.*:0:0/);
    if (expected === 200) expect(text.length).toBeGreaterThan(0);
  });

  it('hides links that may not be followed from listings (and shows /data-wip links only to who may read it)', async () => {
    const names = async (auth?: string): Promise<string[]> => {
      const body = (await (
        await send('GET', '/data/', { ...(auth && { auth }), headers: { accept: 'application/json' } })
      ).json()) as {
        entries: { name: string }[];
      };
      return body.entries.map((entry) => entry.name);
    };
    const anonymous = await names();
    expect(anonymous).toEqual(expect.arrayContaining(['file.txt', 'sub', 'inside', 'sib']));
    for (const hidden of ['escape', 'up2', 'chain', 'chain2', 'abs_inside', 'rel_wip'])
      expect(anonymous).not.toContain(hidden);
    expect(await names(basic('reader'))).toContain('rel_wip');
    const propfind = await (await send('PROPFIND', '/data/', { headers: { depth: '1' } })).text();
    expect(propfind).toContain('/data/file.txt');
    expect(propfind).not.toContain('/data/escape');
  });

  it('never writes through a link, nor replaces or deletes one', async () => {
    const writer = basic('writer');
    expect(await status('PUT', '/data/inside/new.txt', { auth: writer, body: 'x' })).toBe(403);
    expect(await status('PUT', '/data/sib/new.txt', { auth: writer, body: 'x' })).toBe(403);
    expect(await status('PUT', '/data/escape/new.txt', { auth: writer, body: 'x' })).toBe(403);
    expect(await status('PUT', '/data/inside', { auth: writer, body: 'x' })).toBe(403);
    expect(await status('DELETE', '/data/inside', { auth: writer })).toBe(403);
    expect(await status('MKCOL', '/data/sib/dir', { auth: writer })).toBe(403);
    expect(await status('PROPPATCH', '/data/inside', { auth: writer, body: '<x/>' })).toBe(403);
    expect(
      await status('MOVE', '/data/file.txt', {
        auth: writer,
        headers: { destination: `${share.url}/data/inside/moved.txt` },
      }),
    ).toBe(403);
    expect(
      await status('COPY', '/data/inside', {
        auth: writer,
        headers: { destination: `${share.url}/data/copy` },
      }),
    ).toBe(403);
    expect(readdirSync(join(fixture.data, 'sub'))).toEqual(['inner.txt']);
    expect(readdirSync(fixture.sibling)).toEqual(['shared.txt']);
    expect(lstatSync(join(fixture.data, 'inside')).isSymbolicLink()).toBe(true);
  });

  it('deletes a folder holding links without touching what they point to', async () => {
    mkdirSync(join(fixture.data, 'todelete'));
    symlinkSync(fixture.outside, join(fixture.data, 'todelete', 'out'));
    symlinkSync('../../sibling', join(fixture.data, 'todelete', 'sib'));
    expect(await status('DELETE', '/data/todelete', { auth: basic('writer') })).toBeLessThan(300);
    expect(existsSync(join(fixture.data, 'todelete'))).toBe(false);
    expect(readFileSync(join(fixture.outside, 'private.txt'), 'utf8')).toContain('never served');
    expect(readdirSync(fixture.sibling)).toEqual(['shared.txt']);
  });

  it('does not copy links when a folder is copied', async () => {
    mkdirSync(join(fixture.data, 'tocopy'));
    writeFileSync(join(fixture.data, 'tocopy', 'a.txt'), 'a');
    symlinkSync(fixture.outside, join(fixture.data, 'tocopy', 'out'));
    expect(
      await status('COPY', '/data/tocopy', {
        auth: basic('writer'),
        headers: { destination: `${share.url}/data-wip/copied` },
      }),
    ).toBe(201);
    expect(readdirSync(join(fixture.wip, 'copied'))).toEqual(['a.txt']);
  });
});

describe('a link swapped in during requests', () => {
  let swapper: ChildProcess | undefined;
  afterAll(() => {
    swapper?.kill('SIGKILL');
  });

  it('never serves or writes outside the share while a folder is swapped for a link to the outside', async () => {
    const race = join(fixture.data, 'race');
    mkdirSync(race);
    writeFileSync(join(race, 'passwd'), 'decoy\n');
    const target = join(fixture.root, 'race-target');
    mkdirSync(target);
    writeFileSync(join(target, 'passwd'), 'SECRET-OUTSIDE\n');
    // A separate process swaps data/race between the real folder and a link to race-target, as fast as it can.
    const script = `
      const fs = require('fs');
      const race = ${JSON.stringify(race)}, real = race + '.real', target = ${JSON.stringify(target)};
      const end = Date.now() + 60000;
      while (Date.now() < end) {
        try { fs.renameSync(race, real); fs.symlinkSync(target, race); fs.unlinkSync(race); fs.renameSync(real, race); } catch {}
      }`;
    swapper = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    const statuses = new Map<number, number>();
    for (let round = 0; round < 40; round += 1) {
      const batch = await Promise.all(
        Array.from({ length: 10 }, async (_, index) => {
          const get = await send('GET', '/data/race/passwd');
          const text = await get.text();
          const put = await send('PUT', `/data/race/up-${round}-${index}.txt`, {
            auth: basic('writer'),
            body: 'x',
          });
          await put.arrayBuffer();
          return { status: get.status, text, put: put.status };
        }),
      );
      for (const result of batch) {
        expect(result.text).not.toContain('SECRET-OUTSIDE');
        if (result.status === 200) expect(result.text).toBe('decoy\n');
        statuses.set(result.status, (statuses.get(result.status) ?? 0) + 1);
      }
    }
    swapper.kill('SIGKILL');
    await new Promise((resolve) => swapper?.once('exit', resolve));
    expect(readdirSync(target)).toEqual(['passwd']);
    expect(
      [...statuses.keys()].every((code) => [200, 403, 404, 503].includes(code)),
      JSON.stringify([...statuses]),
    ).toBe(true);
    await alive();
  });
});

describe('inputs that crashed webdav-server 2.6.3', () => {
  it.each([
    ['(<urn:uuid:2b6c3ad5-6a1c-4b8d-9a8e-3f0a6d7b9c10>)', 412],
    ['(Not <DAV:no-lock>)', 200],
    ['</data/file.txt> (Not <DAV:no-lock>)', 200],
    ['(<DAV:no-lock>)', 412],
    ['(["bogus-etag"])', 412],
    ['(<', 400],
    ['()', 400],
    ['(Not)', 400],
    ['<unterminated', 400],
    ['x'.repeat(12_000), 400],
  ])('an anonymous GET with If: %.60s → %i, server alive', async (ifHeader, expected) => {
    expect(await status('GET', '/data/file.txt', { headers: { if: ifHeader } })).toBe(expected);
    await alive();
  });

  it('a LOCK, then a PUT with the untagged If list Windows and Office send, then UNLOCK with a bare token', async () => {
    const writer = basic('writer');
    const lock = await send('LOCK', '/data/locked.txt', {
      auth: writer,
      headers: { 'content-type': 'application/xml', timeout: 'Second-60' },
      body: '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>test</D:owner></D:lockinfo>',
    });
    expect(lock.status).toBe(201);
    const header = lock.headers.get('lock-token') ?? '';
    expect(header).toMatch(/^<urn:uuid:[0-9a-f-]+>$/);
    await lock.arrayBuffer();
    const token = header.slice(1, -1);
    expect(await status('PUT', '/data/locked.txt', { auth: writer, body: 'no token' })).toBe(423);
    expect(
      await status('PUT', '/data/locked.txt', {
        auth: writer,
        body: 'bogus',
        headers: { if: '(<urn:uuid:bogus>)' },
      }),
    ).toBe(412);
    expect(
      await status('PUT', '/data/locked.txt', {
        auth: writer,
        body: 'with token',
        headers: { if: `(<${token}>)` },
      }),
    ).toBe(204);
    expect(
      await status('UNLOCK', '/data/locked.txt', { auth: writer, headers: { 'lock-token': token } }),
    ).toBe(204);
    await alive();
  });

  it('PROPPATCH with several set and remove blocks is one atomic change', async () => {
    const body = `<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:">
  <D:set><D:prop><Z:Win32CreationTime>Mon, 01 Jan 2024 00:00:00 GMT</Z:Win32CreationTime></D:prop></D:set>
  <D:set><D:prop><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set>
  <D:remove><D:prop><Z:Win32LastAccessTime/></D:prop></D:remove>
  <D:set><D:prop><Z:Win32LastModifiedTime>Tue, 02 Jan 2024 00:00:00 GMT</Z:Win32LastModifiedTime></D:prop></D:set>
</D:propertyupdate>`;
    const response = await send('PROPPATCH', '/data/file.txt', {
      auth: basic('writer'),
      body,
      headers: { 'content-type': 'text/xml' },
    });
    expect(response.status).toBe(207);
    const text = await response.text();
    expect(text).toContain('HTTP/1.1 200 OK');
    const props = await (
      await send('PROPFIND', '/data/file.txt', {
        headers: { depth: '0' },
        body: '<D:propfind xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:prop><Z:Win32FileAttributes/><Z:Win32LastModifiedTime/></D:prop></D:propfind>',
      })
    ).text();
    expect(props).toContain('00000020');
    expect(props).toContain('Tue, 02 Jan 2024');
    await alive();
  });

  it.each([
    ['PROPFIND', '<D:propfind xmlns:D="DAV:"><D:prop>', 400],
    [
      'PROPFIND',
      '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&e;</D:displayname></D:prop></D:propfind>',
      400,
    ],
    ['PROPFIND', '<D:propfind xmlns:D="DAV:"><D:foo/></D:propfind>', 400],
    ['PROPFIND', 'not xml at all', 400],
    ['PROPPATCH', '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>', 400],
    ['PROPPATCH', '<D:propertyupdate xmlns:D="DAV:"><D:set/></D:propertyupdate>', 400],
    ['PROPPATCH', '<x:y xmlns:x="urn:x"/>', 400],
    ['LOCK', '<D:lockinfo xmlns:D="DAV:"><D:lockscope>', 400],
    ['LOCK', '<D:lockinfo xmlns:D="DAV:"><D:locktype><D:write/></D:locktype></D:lockinfo>', 400],
  ])('%s with a malformed body → %i, server alive', async (method, body, expected) => {
    expect(
      await status(method, '/data/file.txt', { auth: basic('writer'), body, headers: { depth: '0' } }),
    ).toBe(expected);
    await alive();
  });

  it('a chunked PROPFIND body is read (not answered as allprop)', async () => {
    const body = '<D:propfind xmlns:D="DAV:"><D:prop><D:getcontentlength/></D:prop></D:propfind>';
    const chunked = `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const response = await rawRequest(
      share.url,
      `PROPFIND /data/file.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\nDepth: 0\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`,
    );
    expect(response.status).toBe(207);
    expect(response.text).toContain('<D:getcontentlength>12</D:getcontentlength>');
    expect(response.text).not.toContain('getlastmodified');
  });

  it('PROPFIND Depth: infinity (or none) is refused with 403', async () => {
    expect(await status('PROPFIND', '/data/', { headers: { depth: 'infinity' } })).toBe(403);
    const response = await rawRequest(share.url, requestText('PROPFIND', '/data/'));
    expect(response.status).toBe(403);
    expect(response.text).toContain('propfind-finite-depth');
  });

  it('a body shorter than its Content-Length, then a closed connection, leaves the server up', async () => {
    const { connect } = await import('node:net');
    const { hostname, port } = new URL(share.url);
    await new Promise<void>((resolve) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write('PROPPATCH /data/file.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n');
        socket.write(`Authorization: ${basic('writer')}\r\n\r\n<D:propertyupdate`);
        setTimeout(() => socket.destroy(), 200);
      });
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
    await alive();
  });

  it('MKCOL with a body is refused (415)', async () => {
    expect(await status('MKCOL', '/data/withbody', { auth: basic('writer'), body: '<x/>' })).toBe(415);
  });
});

describe('authentication', () => {
  it.each(Object.keys(USERS) as (keyof typeof USERS)[])(
    'Basic for %s (every password character, split at the first ":")',
    async (user) => {
      expect(await status('PROPFIND', '/data-wip/', { auth: basic(user), headers: { depth: '0' } })).toBe(
        207,
      );
    },
  );

  it('base64 with + and / in the credentials is accepted', () => {
    expect(basic('plus')).toBe('Basic cGx1czo+Pj4/');
  });

  it('refuses malformed Basic credentials with 400', async () => {
    expect(await status('GET', '/data-wip/', { auth: 'Basic !!!not-base64!!!' })).toBe(400);
    expect(
      await status('GET', '/data-wip/', { auth: `Basic ${Buffer.from('no-colon').toString('base64')}` }),
    ).toBe(400);
  });

  function digestHeader(
    challenge: string,
    options: { nc: string; cnonce: string; uri: string; method: string; user: keyof typeof USERS },
  ): string {
    const nonce = /nonce="([^"]+)"/.exec(challenge)?.[1] ?? '';
    const md5 = (text: string): string => createHash('md5').update(text).digest('hex');
    const ha1 = md5(`${options.user}:${REALM}:${USERS[options.user]}`);
    const ha2 = md5(`${options.method}:${options.uri}`);
    const response = md5(`${ha1}:${nonce}:${options.nc}:${options.cnonce}:auth:${ha2}`);
    return `Digest username="${options.user}", realm="${REALM}", nonce="${nonce}", uri="${options.uri}", qop=auth, nc=${options.nc}, cnonce="${options.cnonce}", response="${response}", algorithm=MD5`;
  }

  it('Digest: a fresh nonce works, a replayed one does not, a later count does, a made-up nonce never', async () => {
    const first = await send('PROPFIND', '/data-wip/', { headers: { depth: '0' } });
    await first.arrayBuffer();
    const challenge = (first.headers.get('www-authenticate') ?? '').split(/,\s*(?=Basic )/)[0] ?? '';
    expect(challenge).toContain('Digest');
    const header = digestHeader(challenge, {
      nc: '00000001',
      cnonce: 'abc',
      uri: '/data-wip/',
      method: 'PROPFIND',
      user: 'writer',
    });
    expect(await status('PROPFIND', '/data-wip/', { auth: header, headers: { depth: '0' } })).toBe(207);
    expect(await status('PROPFIND', '/data-wip/', { auth: header, headers: { depth: '0' } }), 'replay').toBe(
      401,
    );
    const next = digestHeader(challenge, {
      nc: '00000002',
      cnonce: 'abd',
      uri: '/data-wip/',
      method: 'PROPFIND',
      user: 'writer',
    });
    expect(await status('PROPFIND', '/data-wip/', { auth: next, headers: { depth: '0' } })).toBe(207);
    const forged = digestHeader('nonce="never-issued-nonce"', {
      nc: '00000001',
      cnonce: 'x',
      uri: '/data-wip/',
      method: 'PROPFIND',
      user: 'writer',
    });
    expect(await status('PROPFIND', '/data-wip/', { auth: forged, headers: { depth: '0' } })).toBe(401);
    const wrongUri = digestHeader(challenge, {
      nc: '00000003',
      cnonce: 'abe',
      uri: '/data/',
      method: 'PROPFIND',
      user: 'writer',
    });
    expect(await status('PROPFIND', '/data-wip/', { auth: wrongUri, headers: { depth: '0' } })).toBe(401);
    await alive();
  });

  it('Digest: an expired nonce is answered stale=true, and the new one works', async () => {
    const fx = await securityFixture({ nonceLifetime: '1s' });
    const small = await startShare(fx.config, { inProcess: true });
    try {
      const first = await fetch(`${small.url}/data-wip/`, { method: 'PROPFIND', headers: { depth: '0' } });
      await first.arrayBuffer();
      const challenge = first.headers.get('www-authenticate') ?? '';
      await new Promise((resolve) => setTimeout(resolve, 1200));
      const late = digestHeader(challenge, {
        nc: '00000001',
        cnonce: 'c',
        uri: '/data-wip/',
        method: 'PROPFIND',
        user: 'reader',
      });
      const stale = await fetch(`${small.url}/data-wip/`, {
        method: 'PROPFIND',
        headers: { depth: '0', authorization: late },
      });
      await stale.arrayBuffer();
      expect(stale.status).toBe(401);
      expect(stale.headers.get('www-authenticate')).toContain('stale=true');
      const fresh = digestHeader(stale.headers.get('www-authenticate') ?? '', {
        nc: '00000001',
        cnonce: 'd',
        uri: '/data-wip/',
        method: 'PROPFIND',
        user: 'reader',
      });
      const ok = await fetch(`${small.url}/data-wip/`, {
        method: 'PROPFIND',
        headers: { depth: '0', authorization: fresh },
      });
      await ok.arrayBuffer();
      expect(ok.status).toBe(207);
    } finally {
      await small.stop();
      fx.cleanup();
    }
  });

  it('throttles failed logins per address: 429 with Retry-After, even for the right password', async () => {
    const fx = await securityFixture({ throttle: { failures: 3, window: '1m', block: '30s' } });
    const small = await startShare(fx.config, { inProcess: true });
    try {
      const wrong = `Basic ${Buffer.from('writer:guess').toString('base64')}`;
      const codes: number[] = [];
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const response = await fetch(`${small.url}/data/file.txt`, { headers: { authorization: wrong } });
        await response.arrayBuffer();
        codes.push(response.status);
      }
      expect(codes).toEqual([401, 401, 429]);
      const blocked = await fetch(`${small.url}/data/file.txt`, {
        headers: { authorization: basic('writer') },
      });
      await blocked.arrayBuffer();
      expect(blocked.status).toBe(429);
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
      const anonymous = await fetch(`${small.url}/data/file.txt`);
      expect(anonymous.status, 'anonymous reads still work').toBe(200);
    } finally {
      await small.stop();
      fx.cleanup();
    }
  });
});

describe('access log', () => {
  it('records requests with user, status and bytes, never a credential', async () => {
    await status('GET', '/data-wip/secret.txt', { auth: basic('writer') });
    // Every byte value once: the body's bytes, not its characters, are counted.
    writeFileSync(join(fixture.data, 'all-bytes.bin'), Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
    await status('GET', '/data/all-bytes.bin');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const log = readFileSync(join(fixture.root, 'access.log'), 'utf8');
    const lines = log
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(
      lines.some(
        (line) =>
          line.path === '/data-wip/secret.txt' &&
          line.user === 'writer' &&
          line.status === 200 &&
          line.bytes === 17,
      ),
    ).toBe(true);
    expect(lines.find((line) => line.path === '/data/all-bytes.bin')?.bytes).toBe(256);
    for (const [user, password] of Object.entries(USERS)) {
      expect(log).not.toContain(password);
      expect(log).not.toContain(Buffer.from(`${user}:${password}`).toString('base64'));
    }
    expect(log).not.toContain(TOKEN);
    // A scheme followed by something credential-like (not a plain word such as `Basic credentials`).
    const credential = /(Digest|Basic|Bearer) (?=[A-Za-z0-9+/=]*[A-Z0-9+/=])[A-Za-z0-9+/=]{8,}/;
    expect(credential.exec(log)?.[0]).toBeUndefined();
    expect(log).not.toContain('response=');
  });
});
