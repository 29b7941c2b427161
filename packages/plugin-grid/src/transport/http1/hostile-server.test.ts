import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  rawServer,
  requestPath,
  type RawHandler,
  type RawServerOptions,
} from '../../../test/support/raw-server.js';
import { isGridError, type GridErrorCode } from '../../errors/grid-error.js';
import type { BodySink } from './body-sink.js';
import { Http1Client, type HttpClientOptions, type HttpResponse } from './client.js';

/**
 * The HTTP/1.1 client against servers that misbehave on purpose: every attack ends in a GridError of the
 * right class within bounded time, and a connection is never reused in a bad state.
 */

const options: HttpClientOptions = {
  connectionsPerHost: 2,
  connectTimeoutMs: 3000,
  headersTimeoutMs: 3000,
  bodyTimeoutMs: 3000,
};

const servers: Array<{ close(): Promise<void> }> = [];
const clients: Http1Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.destroy()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(respond: RawHandler, o: RawServerOptions = {}) {
  const s = await rawServer(respond, o);
  servers.push(s);
  return s;
}

function client(o: Partial<HttpClientOptions> = {}): Http1Client {
  const c = new Http1Client({ ...options, ...o });
  clients.push(c);
  return c;
}

function collector(): BodySink & { text(): string; bytes(): Buffer } {
  const parts: Buffer[] = [];
  let room: Buffer | undefined;
  return {
    space(max) {
      room = Buffer.alloc(Math.min(max, 1000));
      return room;
    },
    commit(n) {
      parts.push(Buffer.from(room!.subarray(0, n)));
      return undefined;
    },
    write(data) {
      parts.push(Buffer.from(data));
      return undefined;
    },
    bytes: () => Buffer.concat(parts),
    text: () => Buffer.concat(parts).toString('latin1'),
  };
}

const get = (
  c: Http1Client,
  url: string,
  headers: Record<string, string> = {},
  method: 'GET' | 'HEAD' = 'GET',
) => c.request({ url, method, headers, signal: AbortSignal.timeout(20_000) });

async function bodyOf(res: HttpResponse): Promise<string> {
  const sink = collector();
  await res.body.pipeTo(sink);
  return sink.text();
}

/** Expects a GridError with `code` (and a message matching `why`) within `withinMs`. */
async function fails(p: Promise<unknown>, code: GridErrorCode, why: RegExp, withinMs = 2500): Promise<void> {
  const t0 = performance.now();
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isGridError(e, code), `expected ${code}, got ${String(e)}`).toBe(true);
  expect((e as Error).message).toMatch(why);
  expect(performance.now() - t0).toBeLessThan(withinMs);
}

const ok = (body: string, extra = '') =>
  `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`;

describe('hostile heads', () => {
  it('refuses an over-long head, complete or not, without waiting for the timeout', async () => {
    const pad = `X-Pad: ${'a'.repeat(1000)}\r\n`.repeat(80);
    const s = await serve((head, socket) => {
      if (requestPath(head) === '/complete')
        socket.write(`HTTP/1.1 200 OK\r\n${pad}Content-Length: 0\r\n\r\n`);
      else socket.write(`HTTP/1.1 200 OK\r\n${pad}`);
    });
    const c = client();
    await fails(get(c, s.url('/complete')), 'GRID_BAD_RESPONSE', /longer than 65536/);
    await fails(get(c, s.url('/endless')), 'GRID_BAD_RESPONSE', /longer than 65536/);
  });

  it('bounds a head that drips in (the head timeout is a deadline, not an idle timer)', async () => {
    const s = await serve((_h, socket) => {
      socket.write('HTTP/1.1 200 OK\r\n');
      const t = setInterval(() => socket.write('X: y\r\n'), 50);
      socket.once('close', () => clearInterval(t));
    });
    await fails(
      get(client({ headersTimeoutMs: 600 }), s.url('/')),
      'GRID_STALLED',
      /no response within 600 ms/,
    );
  });

  it('bounds endless interim (1xx) responses the same way', async () => {
    const s = await serve((_h, socket) => {
      const t = setInterval(() => socket.write('HTTP/1.1 100 Continue\r\n\r\n'), 20);
      socket.once('close', () => clearInterval(t));
    });
    await fails(get(client({ headersTimeoutMs: 600 }), s.url('/')), 'GRID_STALLED', /no response within/);
  });

  it('skips 100 and 103 Early Hints, and refuses a 101 it did not ask for', async () => {
    const s = await serve((head, socket) => {
      if (requestPath(head) === '/upgrade')
        return void socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n');
      socket.write(
        'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n',
      );
      socket.write(ok('fine'));
    });
    const c = client();
    expect(await bodyOf(await get(c, s.url('/')))).toBe('fine');
    await fails(get(c, s.url('/upgrade')), 'GRID_BAD_RESPONSE', /101/);
  });

  it('fails fast on a server that does not speak HTTP/1.x (TLS alert, HTTP/2 frames, a banner)', async () => {
    const prefaces: Record<string, Buffer> = {
      '/tls': Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]),
      '/h2': Buffer.from('000000040000000000', 'hex'),
      '/ssh': Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'),
      '/h2line': Buffer.from('HTTP/2 200\r\n'),
    };
    // None of them closes the connection or sends CRLF CRLF: only the client can end the wait.
    const s = await serve((head, socket) => socket.write(prefaces[requestPath(head)]!));
    const c = client({ headersTimeoutMs: 10_000 });
    for (const path of Object.keys(prefaces))
      await fails(get(c, s.url(path)), 'GRID_BAD_RESPONSE', /not an HTTP\/1\.x response/);
  });

  it('accepts bare LF heads and reuses the connection after them', async () => {
    const s = await serve((_h, socket) =>
      socket.write('HTTP/1.1 200 OK\nContent-Length: 5\nETag: "x"\n\nhello'),
    );
    const c = client();
    for (let i = 0; i < 2; i++) expect(await bodyOf(await get(c, s.url('/')))).toBe('hello');
    expect(s.connections).toBe(1);
  });

  it('refuses heads with NUL, bare CR, a status outside 100-599, conflicting lengths or TE with CL', async () => {
    const answers: Record<string, string> = {
      '/nul': 'HTTP/1.1 200 OK\r\nX: a\0b\r\nContent-Length: 0\r\n\r\n',
      '/cr': 'HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n',
      '/status': 'HTTP/1.1 700 Odd\r\nContent-Length: 0\r\n\r\n',
      '/lengths': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 20\r\n\r\nxx',
      '/te-cl':
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nxx\r\n0\r\n\r\n',
      '/gzip': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nxx\r\n0\r\n\r\n',
      '/10-chunked': 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxx\r\n0\r\n\r\n',
    };
    const s = await serve((head, socket) => socket.write(answers[requestPath(head)]!));
    const c = client();
    for (const path of Object.keys(answers))
      await fails(get(c, s.url(path)), 'GRID_BAD_RESPONSE', /invalid HTTP response/);
  });

  it('reuses HTTP/1.0 connections only with keep-alive', async () => {
    const s = await serve((head, socket) =>
      socket.write(
        requestPath(head) === '/kept'
          ? 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok'
          : 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok',
      ),
    );
    const c = client();
    for (let i = 0; i < 2; i++) expect(await bodyOf(await get(c, s.url('/kept')))).toBe('ok');
    expect(s.connections).toBe(1);
    // The first takes the kept-alive connection, which each plain HTTP/1.0 response then closes.
    for (let i = 0; i < 3; i++) expect(await bodyOf(await get(c, s.url('/plain')))).toBe('ok');
    expect(s.connections).toBe(3);
  });
});

describe('hostile bodies', () => {
  it('never takes bytes past Content-Length as the next response, even when the next request follows at once', async () => {
    // The first body read fills the 64 KiB scratch buffer, then 31 reads of 1000 bytes (the collector's
    // room) end the body: libuv reads at most 32 times per wake-up, so the forged bytes, already in the
    // kernel, would be read only after the next request went out.
    const body = 'b'.repeat(65_536 + 31_000);
    const s = await serve((head, socket) => {
      if (!requestPath(head).startsWith('/first')) return void socket.write(ok('good'));
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
      // The body arrives later than the head (read straight into the sink), with a forged response after it.
      setTimeout(() => socket.write(body + ok('EVIL')), 30);
    });
    const c = client({ connectionsPerHost: 1 });
    for (let round = 0; round < 3; round++) {
      expect(await bodyOf(await get(c, s.url(`/first${round}`)))).toBe(body);
      // No await between the end of the body and the next request: the forged bytes are already here.
      expect(await bodyOf(await get(c, s.url('/second')))).toBe('good');
    }
  });

  it('does not reuse a connection whose HEAD (or 204) came with a body', async () => {
    const garbage = 'g'.repeat(100_000);
    const s = await serve((head, socket) => {
      if (head.startsWith('HEAD'))
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${garbage.length}\r\n\r\n${garbage}`);
      else if (requestPath(head) === '/204') socket.write(`HTTP/1.1 204 No Content\r\n\r\n${garbage}`);
      else socket.write(ok('real'));
    });
    const c = client({ connectionsPerHost: 1 });
    const h = await get(c, s.url('/'), {}, 'HEAD');
    expect(h.contentLength).toBe(garbage.length);
    await h.body.dump();
    expect(await bodyOf(await get(c, s.url('/')))).toBe('real');
    const n = await get(c, s.url('/204'));
    await n.body.dump();
    expect(await bodyOf(await get(c, s.url('/')))).toBe('real');
    expect(s.connections).toBe(3);
  });

  it('reports a body cut short (close, half-close, reset) as a lost connection', async () => {
    const s = await serve((head, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
      const how = requestPath(head);
      setTimeout(
        () =>
          how === '/reset' ? socket.resetAndDestroy() : how === '/half' ? socket.end() : socket.destroy(),
        30,
      );
    });
    const c = client();
    for (const path of ['/close', '/half', '/reset']) {
      const res = await get(c, s.url(path));
      await fails(res.body.pipeTo(collector()), 'GRID_CONNECTION_LOST', /closed|reset|ECONNRESET/);
    }
  });

  it('refuses overflowing or malformed chunk sizes and does not reuse the connection', async () => {
    const bodies: Record<string, string> = {
      '/overflow': 'FFFFFFFFFFFFFFFFFF\r\n',
      '/negative': '-5\r\nhello\r\n0\r\n\r\n',
      '/long-data': '2\r\nhello\r\n0\r\n\r\n',
    };
    const s = await serve((head, socket) => {
      const path = requestPath(head);
      socket.write(
        `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${bodies[path] ?? '5\r\nfine!\r\n0\r\n\r\n'}`,
      );
    });
    const c = client({ connectionsPerHost: 1 });
    for (const path of Object.keys(bodies)) {
      const res = await get(c, s.url(path));
      await fails(res.body.pipeTo(collector()), 'GRID_BAD_RESPONSE', /chunk/);
    }
    expect(await bodyOf(await get(c, s.url('/')))).toBe('fine!');
    expect(s.connections).toBe(4);
  });

  it('bounds endless chunk extensions and trailers (no data, the server keeps talking)', async () => {
    const s = await serve((head, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      socket.write(requestPath(head) === '/ext' ? '5;' : '5\r\nhello\r\n0\r\n');
      const t = setInterval(
        () => socket.write(requestPath(head) === '/ext' ? 'x'.repeat(1000) : 'X-T: y\r\n'.repeat(100)),
        5,
      );
      socket.once('close', () => clearInterval(t));
    });
    const c = client();
    for (const [path, why] of [
      ['/ext', /chunk extension/],
      ['/trailer', /trailer/],
    ] as const) {
      const res = await get(c, s.url(path));
      await fails(res.body.pipeTo(collector()), 'GRID_BAD_RESPONSE', why, 5000);
    }
  });
});

describe('hostile connections', () => {
  it('reports a reset in the middle of the head as a lost connection', async () => {
    const s = await serve((_h, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Le');
      setTimeout(() => socket.resetAndDestroy(), 30);
    });
    await fails(get(client(), s.url('/')), 'GRID_CONNECTION_LOST', /reset|closed|ECONNRESET/);
  });

  it('bounds the wait on a server that accepts and never reads', async () => {
    const s = await serve(() => undefined, { neverRead: true });
    await fails(
      get(client({ headersTimeoutMs: 500 }), s.url('/')),
      'GRID_STALLED',
      /no response within 500 ms/,
    );
  });

  it('takes an answer sent before the request arrived, then closed', async () => {
    const s = await serve(() => undefined, {
      onConnection: (socket: Socket) =>
        socket.end(
          'HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy',
        ),
    });
    const res = await get(client(), s.url('/'));
    expect(res.statusCode).toBe(503);
    expect(await bodyOf(res)).toBe('busy');
  });

  it('opens a new connection after an aborted or failed response, never reusing it', async () => {
    const s = await serve((head, socket) => {
      const path = requestPath(head);
      if (path === '/hang') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nabc');
      else if (path === '/bad') socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n');
      else socket.write(ok(`ok${path}`));
    });
    const c = client({ connectionsPerHost: 1 });
    const ctl = new AbortController();
    const hanging = await c.request({ url: s.url('/hang'), method: 'GET', headers: {}, signal: ctl.signal });
    const reading = hanging.body.pipeTo(collector());
    await sleep(20);
    ctl.abort(new Error('unsubscribed'));
    await expect(reading).rejects.toThrow('unsubscribed');
    expect(await bodyOf(await get(c, s.url('/a')))).toBe('ok/a');
    const bad = await get(c, s.url('/bad'));
    await expect(bad.body.pipeTo(collector())).rejects.toSatisfy((e) => isGridError(e, 'GRID_BAD_RESPONSE'));
    expect(await bodyOf(await get(c, s.url('/b')))).toBe('ok/b');
    expect(s.connections).toBe(3);
  });

  it('does not let the idle timer of a reused connection close it while it serves a long response', async () => {
    const s = await serve((head, socket) => {
      if (requestPath(head) === '/quick') return void socket.write(ok('q'));
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n');
      let sent = 0;
      const t = setInterval(() => (++sent === 8 ? clearInterval(t) : undefined, socket.write('x')), 100);
      socket.once('close', () => clearInterval(t));
    });
    const c = client({ keepAliveTimeoutMs: 200 });
    expect(await bodyOf(await get(c, s.url('/quick')))).toBe('q');
    expect(await bodyOf(await get(c, s.url('/slow')))).toBe('xxxxxxxx');
    expect(s.connections).toBe(1);
  });

  it('holds connectionsPerHost, counted at the server', async () => {
    const s = await serve((_h, socket) => setTimeout(() => socket.write(ok('x'.repeat(1000))), 40));
    const c = client({ connectionsPerHost: 2 });
    const all = await Promise.all(Array.from({ length: 12 }, (_, i) => get(c, s.url(`/${i}`)).then(bodyOf)));
    expect(all.every((b) => b.length === 1000)).toBe(true);
    expect(s.maxOpen).toBe(2);
  });
});

describe('hostile redirects', () => {
  it('stops a redirect loop with a clear error that moves to the next replica', async () => {
    const s = await serve((head, socket) =>
      socket.write(
        `HTTP/1.1 302 Found\r\nLocation: ${requestPath(head) === '/a' ? '/b' : '/a'}\r\nContent-Length: 0\r\n\r\n`,
      ),
    );
    const e = await get(client(), s.url('/a')).catch((err: unknown) => err);
    expect(isGridError(e, 'GRID_HTTP_STATUS')).toBe(true);
    expect((e as Error).message).toMatch(/more than 5 redirects/);
    expect((e as { retryable: boolean }).retryable).toBe(false);
  });

  it('refuses to follow a redirect to another scheme (file, ftp, root)', async () => {
    const s = await serve((head, socket) =>
      socket.write(
        `HTTP/1.1 301 Moved\r\nLocation: ${decodeURIComponent(requestPath(head).slice(1))}\r\nContent-Length: 0\r\n\r\n`,
      ),
    );
    const c = client();
    for (const to of ['file:///etc/passwd', 'ftp://127.0.0.1/x', 'root://127.0.0.1//x']) {
      const e = await get(c, s.url(`/${encodeURIComponent(to)}`)).catch((err: unknown) => err);
      expect(isGridError(e, 'GRID_UNSUPPORTED_SCHEME'), String(e)).toBe(true);
      expect((e as { retryable: boolean }).retryable).toBe(false);
    }
  });

  it('resolves relative Locations and never puts CR/LF into a request', async () => {
    const s = await serve((head, socket) => {
      const path = requestPath(head);
      if (path === '/dir/start')
        socket.write('HTTP/1.1 307 Temp\r\nLocation: ../next/x?y=1\r\nContent-Length: 0\r\n\r\n');
      else if (path === '/next/x?y=1')
        socket.write(
          'HTTP/1.1 308 Perm\r\nLocation: /folded\r\n  X-Injected: 1\r\nContent-Length: 0\r\n\r\n',
        );
      else socket.write(ok(path));
    });
    const res = await get(client(), s.url('/dir/start'), { Range: 'bytes=0-' });
    expect(await bodyOf(res)).toBe('/folded%20X-Injected:%201');
    // Every request is one request line plus fields; 307/308 keep the method and the Range.
    for (const h of s.heads) {
      expect(h).toMatch(/^GET \S+ HTTP\/1\.1\r\n/);
      expect(h).toMatch(/\r\nRange: bytes=0-/);
      expect(h).not.toMatch(/\r\nX-Injected/);
    }
    const cr = await serve((_h, socket) =>
      socket.write('HTTP/1.1 302 Found\r\nLocation: /a\rX: y\r\nContent-Length: 0\r\n\r\n'),
    );
    await fails(get(client(), cr.url('/')), 'GRID_BAD_RESPONSE', /CR/);
  });

  it('keeps HEAD a HEAD through 303, 307 and 308', async () => {
    const s = await serve((head, socket) => {
      const path = requestPath(head);
      const next: Record<string, string> = { '/1': '303 See Other', '/2': '307 Temp', '/3': '308 Perm' };
      const hop = next[path];
      if (hop)
        socket.write(
          `HTTP/1.1 ${hop}\r\nLocation: /${Number(path.slice(1)) + 1}\r\nContent-Length: 0\r\n\r\n`,
        );
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n');
    });
    const res = await get(client(), s.url('/1'), {}, 'HEAD');
    expect(res.statusCode).toBe(200);
    expect(res.contentLength).toBe(42);
    expect(s.heads.map((h) => h.split(' ')[0])).toEqual(['HEAD', 'HEAD', 'HEAD', 'HEAD']);
  });

  it('sends Authorization only to the original origin: not to another host, not back after leaving it', async () => {
    const other = await serve((head, socket) =>
      socket.write(
        requestPath(head) === '/back'
          ? `HTTP/1.1 302 Found\r\nLocation: ${first.url('/end')}\r\nContent-Length: 0\r\n\r\n`
          : ok('other'),
      ),
    );
    const first = await serve((head, socket) => {
      const path = requestPath(head);
      if (path === '/same')
        socket.write('HTTP/1.1 302 Found\r\nLocation: /here\r\nContent-Length: 0\r\n\r\n');
      else if (path === '/away')
        socket.write(
          `HTTP/1.1 302 Found\r\nLocation: //127.0.0.1:${other.port}/back\r\nContent-Length: 0\r\n\r\n`,
        );
      else socket.write(ok(path));
    });
    const c = client();
    const auth = { Authorization: 'Bearer secret', 'X-Other': '1' };
    expect(await bodyOf(await get(c, first.url('/same'), auth))).toBe('/here');
    expect(await bodyOf(await get(c, first.url('/away'), auth))).toBe('/end');
    const withAuth = (heads: string[]) => heads.map((h) => /authorization/i.test(h));
    expect(withAuth(first.heads)).toEqual([true, true, true, false]);
    expect(withAuth(other.heads)).toEqual([false]);
    expect(other.heads[0]).toMatch(/X-Other: 1/);
  });
});

describe('many requests', () => {
  it('keeps each body intact across reuse (no byte of one response in another)', async () => {
    const bodies = Array.from({ length: 20 }, () => randomBytes(1 + Math.floor(Math.random() * 200_000)));
    const s = await serve((head, socket) => {
      const b = bodies[Number(requestPath(head).slice(1))]!;
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\n\r\n`);
      socket.write(b);
    });
    const c = client({ connectionsPerHost: 2 });
    const got = await Promise.all(
      bodies.map(async (_b, i) => {
        const sink = collector();
        await (await get(c, s.url(`/${i}`))).body.pipeTo(sink);
        return sink.bytes();
      }),
    );
    got.forEach((g, i) => expect(g.equals(bodies[i]!)).toBe(true));
    expect(s.connections).toBeLessThanOrEqual(2);
  });
});
