import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, securityFixture, type SecurityFixture } from './support/fixture.js';
import { startShare, type StartedShare } from './support/start-share.js';

let fixture: SecurityFixture;
let share: StartedShare;
const MiB = 1024 * 1024;
const content = randomBytes(10 * MiB);
const writer = { authorization: basic('writer') };

beforeAll(async () => {
  fixture = await securityFixture();
  writeFileSync(join(fixture.data, 'ten.bin'), content);
  const config = fixture.config;
  share = await startShare({
    ...config,
    cors: { origins: ['https://leaderboard.example'] },
    shares: (config.shares ?? []).map((s) =>
      s.path === '/data-wip' ? { ...s, quota: '12m', maxUpload: '8m' } : s,
    ),
  });
});

afterAll(async () => {
  await share?.stop();
  fixture?.cleanup();
});

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
  fetch(`${share.url}${path}`, { method, headers });

describe('GET and HEAD: ranges, validators, conditional requests', () => {
  it('sends a strong ETag, Last-Modified and Accept-Ranges; HEAD has the headers and no body', async () => {
    const full = await get('/data/ten.bin');
    expect(full.status).toBe(200);
    expect(full.headers.get('etag')).toMatch(/^"[^"]+"$/);
    expect(new Date(full.headers.get('last-modified') ?? '').getTime()).toBeGreaterThan(0);
    expect(full.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await full.arrayBuffer()).equals(content)).toBe(true);
    const head = await get('/data/ten.bin', {}, 'HEAD');
    expect(head.headers.get('content-length')).toBe(String(content.length));
    expect(head.headers.get('etag')).toBe(full.headers.get('etag'));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it('a small binary file (every byte value) comes back byte for byte, whole and as ranges', async () => {
    const small = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7 + 3) % 256));
    writeFileSync(join(fixture.data, 'small-binary.bin'), small);
    const whole = await get('/data/small-binary.bin');
    expect(whole.headers.get('content-length')).toBe('4096');
    expect(Buffer.from(await whole.arrayBuffer()).equals(small)).toBe(true);
    const part = await get('/data/small-binary.bin', { range: 'bytes=120-139' });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(small.subarray(120, 140))).toBe(true);
  });

  it('answers ranges from where they start: tail, closed, open, several (multipart), 416 when none fits', async () => {
    const tail = await get('/data/ten.bin', { range: 'bytes=-10' });
    expect(tail.status).toBe(206);
    expect(tail.headers.get('content-range')).toBe(
      `bytes ${content.length - 10}-${content.length - 1}/${content.length}`,
    );
    expect(Buffer.from(await tail.arrayBuffer()).equals(content.subarray(-10))).toBe(true);
    const closed = await get('/data/ten.bin', { range: 'bytes=100-199' });
    expect(Buffer.from(await closed.arrayBuffer()).equals(content.subarray(100, 200))).toBe(true);
    const open = await get('/data/ten.bin', { range: `bytes=${content.length - 5}-` });
    expect(Buffer.from(await open.arrayBuffer()).equals(content.subarray(-5))).toBe(true);
    const several = await get('/data/ten.bin', { range: 'bytes=0-1,5-6' });
    expect(several.status).toBe(206);
    expect(several.headers.get('content-type')).toMatch(/^multipart\/byteranges; boundary=/);
    const body = Buffer.from(await several.arrayBuffer()).toString('latin1');
    expect(body).toContain(`Content-Range: bytes 0-1/${content.length}`);
    expect(body).toContain(`Content-Range: bytes 5-6/${content.length}`);
    const beyond = await get('/data/ten.bin', { range: 'bytes=20000000-' });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${content.length}`);
  });

  it('streams a large range across read chunks exactly, and a download the client drops leaves no descriptor open', async () => {
    const start = MiB - 7;
    const end = 3 * MiB + 11;
    const middle = await get('/data/ten.bin', { range: `bytes=${start}-${end}` });
    expect(middle.status).toBe(206);
    expect(Buffer.from(await middle.arrayBuffer()).equals(content.subarray(start, end + 1))).toBe(true);
    const open = () => readdirSync(`/proc/${share.pid}/fd`).length;
    const before = open();
    for (let i = 0; i < 5; i++) {
      const controller = new AbortController();
      const response = await fetch(`${share.url}/data/ten.bin`, { signal: controller.signal });
      const reader = response.body?.getReader();
      await reader?.read();
      controller.abort();
      await reader?.cancel().catch(() => undefined);
    }
    // The server notices the closed connections, stops reading and closes the files.
    let after = open();
    for (let waited = 0; after > before && waited < 10_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = open();
    }
    expect(after).toBeLessThanOrEqual(before);
    // And it still serves.
    expect(Buffer.from(await (await get('/data/ten.bin')).arrayBuffer()).equals(content)).toBe(true);
  });

  it('If-Range: the range with the current ETag, the whole file with a stale one', async () => {
    const etag = (await get('/data/ten.bin', {}, 'HEAD')).headers.get('etag') ?? '';
    expect((await get('/data/ten.bin', { range: 'bytes=0-9', 'if-range': etag })).status).toBe(206);
    const stale = await get('/data/ten.bin', { range: 'bytes=0-9', 'if-range': '"stale"' });
    expect(stale.status).toBe(200);
    expect((await stale.arrayBuffer()).byteLength).toBe(content.length);
  });

  it('304 for If-None-Match and If-Modified-Since, 412 for If-Match and If-Unmodified-Since', async () => {
    const head = await get('/data/ten.bin', {}, 'HEAD');
    const etag = head.headers.get('etag') ?? '';
    const modified = head.headers.get('last-modified') ?? '';
    expect((await get('/data/ten.bin', { 'if-none-match': etag })).status).toBe(304);
    expect((await get('/data/ten.bin', { 'if-modified-since': modified })).status).toBe(304);
    expect((await get('/data/ten.bin', { 'if-match': '"bogus"' })).status).toBe(412);
    expect(
      (await get('/data/ten.bin', { 'if-unmodified-since': 'Mon, 01 Jan 2001 00:00:00 GMT' })).status,
    ).toBe(412);
  });

  it('PUT honours If-Match and If-None-Match: * (no lost update), and returns the new ETag', async () => {
    const put = (headers: Record<string, string>, body: string) =>
      fetch(`${share.url}/data/cond.txt`, { method: 'PUT', headers: { ...writer, ...headers }, body });
    const created = await put({ 'if-none-match': '*' }, 'one');
    expect(created.status).toBe(201);
    const etag = created.headers.get('etag') ?? '';
    expect(etag).toMatch(/^"/);
    expect((await put({ 'if-none-match': '*' }, 'two')).status).toBe(412);
    expect((await put({ 'if-match': '"bogus"' }, 'two')).status).toBe(412);
    expect((await put({ 'if-match': etag }, 'two')).status).toBe(204);
    expect(await (await get('/data/cond.txt')).text()).toBe('two');
  });
});

describe('quota and limits', () => {
  it('RFC 4331 quota properties of a share with a quota; 507 beyond it, 413 beyond the upload limit', async () => {
    const propfind = await fetch(`${share.url}/data-wip/`, {
      method: 'PROPFIND',
      headers: { ...writer, depth: '0', 'content-type': 'application/xml' },
      body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>',
    });
    const xml = await propfind.text();
    const available = Number(/quota-available-bytes>(\d+)</.exec(xml)?.[1]);
    const used = Number(/quota-used-bytes>(\d+)</.exec(xml)?.[1]);
    expect(used).toBe(17); // secret.txt
    expect(available).toBe(12 * MiB - 17);
    const put = (name: string, bytes: number) =>
      fetch(`${share.url}/data-wip/${name}`, { method: 'PUT', headers: writer, body: Buffer.alloc(bytes) });
    expect((await put('six.bin', 6 * MiB)).status).toBe(201);
    expect((await put('seven.bin', 7 * MiB)).status, 'beyond the quota').toBe(507);
    expect((await put('nine.bin', 9 * MiB)).status, 'beyond maxUpload').toBe(413);
    expect(readdirSync(fixture.wip).sort()).toEqual(['secret.txt', 'six.bin']);
  });
});

describe('listings and CORS', () => {
  it('HTML for browsers, JSON on Accept: application/json, both with names, sizes and dates', async () => {
    const html = await get('/data/', { accept: 'text/html' });
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html.headers.get('content-security-policy')).toBeTruthy();
    expect(await html.text()).toContain('ten.bin');
    const json = (await (await get('/data/', { accept: 'application/json' })).json()) as {
      entries: { name: string; size?: number; modified?: string }[];
    };
    const ten = json.entries.find((entry) => entry.name === 'ten.bin');
    expect(ten?.size).toBe(content.length);
    expect(ten?.modified).toBeDefined();
  });

  it('a folder of 600 members is listed whole (PROPFIND and JSON, across read batches); names that are not valid UTF-8 or hold a backslash or a control character are hidden, Unicode names shown', async () => {
    const folder = join(fixture.data, 'many');
    mkdirSync(folder);
    const names = Array.from({ length: 600 }, (_, index) => `m-${String(index).padStart(3, '0')}.txt`);
    for (const name of names) writeFileSync(join(folder, name), '');
    const unicode = 'Ünïcødé 🚀.txt';
    writeFileSync(join(folder, unicode), 'u');
    // Byte names: invalid UTF-8 (a lone 0xff, an overlong "/"), a backslash, a control character.
    for (const bytes of [
      [0x62, 0xff],
      [0x63, 0xc0, 0xaf],
      [0x64, 0x5c, 0x65],
      [0x66, 0x01],
    ])
      writeFileSync(Buffer.concat([Buffer.from(`${folder}/`), Buffer.from(bytes)]), 'x');
    const json = (await (await get('/data/many/', { accept: 'application/json' })).json()) as {
      entries: { name: string }[];
    };
    expect(json.entries.map((entry) => entry.name).sort()).toEqual([...names, unicode].sort());
    const propfind = await fetch(`${share.url}/data/many/`, { method: 'PROPFIND', headers: { depth: '1' } });
    expect(propfind.status).toBe(207);
    const hrefs = [...(await propfind.text()).matchAll(/<D:href>([^<]*)<\/D:href>/g)].map((m) =>
      decodeURIComponent(m[1] ?? ''),
    );
    expect(hrefs).toHaveLength(names.length + 2);
    expect(hrefs).toContain(`/data/many/${unicode}`);
    expect(hrefs).toContain('/data/many/m-599.txt');
  });

  it('CORS only for configured origins, never a wildcard with credentials', async () => {
    const allowed = await get('/data/ten.bin', { origin: 'https://leaderboard.example', range: 'bytes=0-0' });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://leaderboard.example');
    const other = await get('/data/ten.bin', { origin: 'https://evil.example', range: 'bytes=0-0' });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(`${share.url}/data/ten.bin`, {
      method: 'OPTIONS',
      headers: { origin: 'https://leaderboard.example', 'access-control-request-method': 'PROPFIND' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('PROPFIND');
  });
});
