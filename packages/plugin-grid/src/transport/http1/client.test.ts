import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { rawServer } from '../../../test/support/raw-server.js';
import { isGridError } from '../../errors/grid-error.js';
import type { BodySink } from './body-sink.js';
import { Http1Client, type HttpClientOptions } from './client.js';

/** Collects a body, optionally making the connection wait after every write. */
function collector(delayMs = 0): BodySink & { bytes(): Buffer } {
  const parts: Buffer[] = [];
  let room: Buffer | undefined;
  const wait = () => (delayMs > 0 ? sleep(delayMs) : undefined);
  return {
    space(max) {
      room = Buffer.alloc(Math.min(max, 1000));
      return room;
    },
    commit(n) {
      parts.push(Buffer.from(room!.subarray(0, n)));
      return wait();
    },
    write(data) {
      parts.push(Buffer.from(data));
      return wait();
    },
    bytes: () => Buffer.concat(parts),
  };
}

const options: HttpClientOptions = {
  connectionsPerHost: 2,
  connectTimeoutMs: 5000,
  headersTimeoutMs: 5000,
  bodyTimeoutMs: 5000,
};

const servers: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(respond: Parameters<typeof rawServer>[0]) {
  const s = await rawServer(respond);
  servers.push(s);
  return s;
}

const signal = () => new AbortController().signal;

describe('Http1Client', () => {
  it('reads Content-Length bodies straight into the sink and reuses the connection', async () => {
    const body = randomBytes(300_000);
    const s = await serve((_h, socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nETag: "v1"\r\n\r\n`);
      socket.write(body);
    });
    const client = new Http1Client(options);
    for (let i = 0; i < 3; i++) {
      const res = await client.request({
        url: `http://127.0.0.1:${s.port}/a?x=1`,
        method: 'GET',
        headers: { Range: 'bytes=0-' },
        signal: signal(),
      });
      expect(res.statusCode).toBe(200);
      expect(res.headers.etag).toBe('"v1"');
      const sink = collector(i === 2 ? 2 : 0);
      expect(await res.body.pipeTo(sink)).toBe(body.length);
      expect(sink.bytes().equals(body)).toBe(true);
    }
    expect(s.connections).toBe(1);
    // Header names are sent as written (old XrdHttp matches `Range` case-sensitively).
    expect(s.heads[0]).toMatch(/^GET \/a\?x=1 HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\nRange: bytes=0-$/);
    await client.close();
  });

  it('decodes chunked bodies, skips 1xx heads and reads HTTP/1.0 bodies to the close', async () => {
    const s = await serve((head, socket) => {
      if (head.startsWith('GET /chunked')) {
        socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
        socket.write('5;ext=1\r\nhello\r\n');
        setTimeout(() => socket.write('6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n'), 20);
      } else {
        socket.end('HTTP/1.0 200 OK\r\n\r\nuntil the end');
      }
    });
    const client = new Http1Client(options);
    const a = await client.request({
      url: `http://127.0.0.1:${s.port}/chunked`,
      method: 'GET',
      headers: {},
      signal: signal(),
    });
    const sa = collector();
    expect(await a.body.pipeTo(sa)).toBe(11);
    expect(sa.bytes().toString()).toBe('hello world');
    const b = await client.request({
      url: `http://127.0.0.1:${s.port}/old`,
      method: 'GET',
      headers: {},
      signal: signal(),
    });
    const sb = collector(1);
    await b.body.pipeTo(sb);
    expect(sb.bytes().toString()).toBe('until the end');
    await client.close();
  });

  it('follows redirects, keeping Authorization only on the same origin', async () => {
    const other = await serve((_h, socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const s = await serve((head, socket) => {
      if (head.startsWith('GET /first'))
        socket.write('HTTP/1.1 302 Found\r\nLocation: /second\r\nContent-Length: 3\r\n\r\nabc');
      else
        socket.write(
          `HTTP/1.1 307 Moved\r\nLocation: http://127.0.0.1:${other.port}/final\r\nContent-Length: 0\r\n\r\n`,
        );
    });
    const client = new Http1Client(options);
    const res = await client.request({
      url: `http://127.0.0.1:${s.port}/first`,
      method: 'GET',
      headers: { Authorization: 'Bearer secret' },
      signal: signal(),
    });
    const sink = collector();
    await res.body.pipeTo(sink);
    expect(sink.bytes().toString()).toBe('ok');
    expect(s.heads[1]).toMatch(/^GET \/second .*Authorization: Bearer secret/s);
    expect(other.heads[0]).toMatch(/^GET \/final /);
    expect(other.heads[0]).not.toMatch(/Authorization/i);
    await client.close();
  });

  it('replaces a kept-alive connection that the server closed meanwhile', async () => {
    const s = await serve((_h, socket, n) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx');
      // The first connection is closed right after its response, as servers do when idle.
      if (n === 1) setTimeout(() => socket.destroy(), 10);
    });
    const client = new Http1Client(options);
    for (let i = 0; i < 2; i++) {
      const res = await client.request({
        url: `http://127.0.0.1:${s.port}/`,
        method: 'GET',
        headers: {},
        signal: signal(),
      });
      await res.body.pipeTo(collector());
      await sleep(50);
    }
    expect(s.connections).toBe(2);
    await client.close();
  });

  it('bounds the wait for a head and between body bytes (GRID_STALLED), and reports cut bodies', async () => {
    const s = await serve((head, socket) => {
      if (head.startsWith('GET /silent')) return;
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
      if (head.startsWith('GET /cut')) setTimeout(() => socket.destroy(), 20);
    });
    const client = new Http1Client({ ...options, headersTimeoutMs: 200, bodyTimeoutMs: 200 });
    const url = (p: string) => `http://127.0.0.1:${s.port}${p}`;
    const silent = client.request({ url: url('/silent'), method: 'GET', headers: {}, signal: signal() });
    await expect(silent).rejects.toSatisfy((e) => isGridError(e, 'GRID_STALLED'));
    const slow = await client.request({ url: url('/slow'), method: 'GET', headers: {}, signal: signal() });
    await expect(slow.body.pipeTo(collector())).rejects.toSatisfy((e) => isGridError(e, 'GRID_STALLED'));
    const cut = await client.request({ url: url('/cut'), method: 'GET', headers: {}, signal: signal() });
    const sink = collector();
    await expect(cut.body.pipeTo(sink)).rejects.toThrow(
      /closed by the server after 10 body bytes \(90 missing\)/,
    );
    expect(sink.bytes().toString()).toBe('0123456789');
    await client.close();
  });

  it('refuses malformed responses and stray bytes, and an abort rejects with its reason', async () => {
    const s = await serve((head, socket) => {
      if (head.startsWith('GET /garbage')) socket.write('HTTP/9 what\r\n\r\n');
      else if (head.startsWith('GET /two-lengths'))
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx');
      else if (head.startsWith('GET /extra'))
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nxxSURPRISE');
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n');
    });
    const client = new Http1Client(options);
    const url = (p: string) => `http://127.0.0.1:${s.port}${p}`;
    await expect(
      client.request({ url: url('/garbage'), method: 'GET', headers: {}, signal: signal() }),
    ).rejects.toSatisfy((e) => isGridError(e, 'GRID_BAD_RESPONSE'));
    await expect(
      client.request({ url: url('/two-lengths'), method: 'GET', headers: {}, signal: signal() }),
    ).rejects.toThrow(/Content-Length/);
    // Bytes past Content-Length belong to no response: the body is exact, the connection is not reused.
    const extra = await client.request({ url: url('/extra'), method: 'GET', headers: {}, signal: signal() });
    const sink = collector();
    await extra.body.pipeTo(sink);
    expect(sink.bytes().toString()).toBe('xx');
    const ctl = new AbortController();
    const hanging = await client.request({
      url: url('/hang'),
      method: 'GET',
      headers: {},
      signal: ctl.signal,
    });
    const reading = hanging.body.pipeTo(collector());
    const reason = new Error('stop');
    ctl.abort(reason);
    await expect(reading).rejects.toBe(reason);
    await expect(
      client.request({ url: url('/x'), method: 'GET', headers: { 'Bad\r\nHeader': 'x' }, signal: signal() }),
    ).rejects.toThrow(/not valid HTTP/);
    await client.close();
  });

  it('frees the connection of a body that is destroyed unread (one connection per host)', async () => {
    const s = await serve((_h, socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n'));
    const client = new Http1Client({ ...options, connectionsPerHost: 1 });
    const url = `http://127.0.0.1:${s.port}/`;
    const first = await client.request({ url, method: 'GET', headers: {}, signal: signal() });
    first.body.destroy();
    const second = await client.request({
      url,
      method: 'GET',
      headers: {},
      signal: AbortSignal.timeout(3000),
    });
    expect(second.statusCode).toBe(200);
    second.body.destroy();
    expect(s.connections).toBe(2);
    await client.close();
  });

  it('leaves no unhandled rejection when the sink refuses to wait after the last bytes', async () => {
    const s = await serve((_h, socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc'));
    const client = new Http1Client(options);
    const res = await client.request({
      url: `http://127.0.0.1:${s.port}/`,
      method: 'GET',
      headers: {},
      signal: signal(),
    });
    const refusing: BodySink = {
      space: () => undefined,
      commit: () => undefined,
      write: () => Promise.reject(new Error('sink closed')),
    };
    expect(await res.body.pipeTo(refusing)).toBe(3);
    // An unhandled rejection would fail the run; give it the turns it needs to surface.
    await sleep(20);
    await client.close();
  });

  it('keeps a body intact while the sink makes the socket wait (large body, slow sink)', async () => {
    const body = randomBytes(8 * 1024 * 1024);
    const s = await serve((_h, socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
      socket.write(body);
    });
    const client = new Http1Client(options);
    const res = await client.request({
      url: `http://127.0.0.1:${s.port}/big`,
      method: 'GET',
      headers: {},
      signal: signal(),
    });
    let waits = 0;
    const inner = collector();
    const sink: BodySink = {
      space: (max) => inner.space(max),
      commit: (n) => (inner.commit(n), ++waits % 50 === 0 ? sleep(5) : undefined),
      write: (d) => inner.write(d),
    };
    expect(await res.body.pipeTo(sink)).toBe(body.length);
    const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
    expect(md5(inner.bytes())).toBe(md5(body));
    await client.close();
  });
});
