import { readFileSync, rmSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { requireService } from '@beamline/core/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hasBinary, INSTALL_HINT } from '../../../test/support/binaries.js';
import { tempDir } from '../../../test/support/fixtures.js';
import { createHostilePki, createTestPki, type HostilePki, type TestPki } from '../../../test/support/pki.js';
import {
  rawServer,
  requestPath,
  type RawHandler,
  type RawServerOptions,
} from '../../../test/support/raw-server.js';
import type { TlsCredentials } from '../../credentials/client-cert.js';
import { isGridError, type GridErrorCode } from '../../errors/grid-error.js';
import { Http1Client } from './client.js';

const available = requireService('openssl', hasBinary('openssl', 'version'), INSTALL_HINT);

/**
 * TLS failures end as GridErrors of the class that decides what happens next: a server certificate we
 * cannot trust (wrong CA, wrong name, expired) or a handshake that never ends is `GRID_CONNECT_FAILED`
 * (the next replica may work), a server refusing our client certificate is `GRID_UNAUTHORIZED` (as
 * 401/403). The client certificate is presented only to the request's own origin.
 */
describe.skipIf(!available)('TLS against hostile or misconfigured servers', () => {
  let pki: TestPki;
  let bad: HostilePki;
  let trusted: TlsCredentials;
  const servers: Array<{ close(): Promise<void> }> = [];
  const clients: Http1Client[] = [];

  beforeAll(() => {
    pki = createTestPki(tempDir('pki'));
    bad = createHostilePki(pki);
    trusted = { ca: [readFileSync(pki.caCert)] };
  });
  afterAll(() => rmSync(pki.dir, { recursive: true, force: true }));
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.destroy()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  const ok = (body: string) => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

  async function tlsServer(
    respond: RawHandler,
    tls: { cert?: string; key?: string; requestCert?: boolean; rejectUnauthorized?: boolean } = {},
    o: RawServerOptions = {},
  ) {
    const s = await rawServer(respond, {
      ...o,
      tls: {
        cert: readFileSync(tls.cert ?? pki.serverCert),
        key: readFileSync(tls.key ?? pki.serverKey),
        ca: [readFileSync(pki.caCert)],
        requestCert: tls.requestCert ?? false,
        rejectUnauthorized: tls.rejectUnauthorized ?? false,
      },
    });
    servers.push(s);
    return s;
  }

  function client(tls: TlsCredentials, connectTimeoutMs = 3000): Http1Client {
    const c = new Http1Client({
      connectionsPerHost: 2,
      tls,
      connectTimeoutMs,
      headersTimeoutMs: 3000,
      bodyTimeoutMs: 3000,
    });
    clients.push(c);
    return c;
  }

  const get = (c: Http1Client, url: string) =>
    c.request({ url, method: 'GET', headers: {}, signal: AbortSignal.timeout(10_000) });

  async function fails(p: Promise<unknown>, code: GridErrorCode, why: RegExp, retryable: boolean) {
    const e = await p.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isGridError(e, code), `expected ${code}, got ${String(e)}`).toBe(true);
    expect((e as Error).message).toMatch(why);
    expect((e as { retryable: boolean }).retryable).toBe(retryable);
  }

  it('refuses a server certificate from an untrusted CA, for another name, or expired', async () => {
    const good = await tlsServer((_h, socket) => socket.write(ok('fine')));
    expect((await get(client(trusted), good.url('/'))).statusCode).toBe(200);
    const otherCa = { ca: [readFileSync(bad.otherCaCert)] };
    await fails(get(client(otherCa), good.url('/')), 'GRID_CONNECT_FAILED', /TLS handshake failed/, true);
    const wrongName = await tlsServer(() => undefined, { cert: bad.wrongNameCert, key: bad.key });
    await fails(
      get(client(trusted), wrongName.url('/')),
      'GRID_CONNECT_FAILED',
      /TLS handshake failed \(ERR_TLS_CERT_ALTNAME_INVALID/,
      true,
    );
    const expired = await tlsServer(() => undefined, { cert: bad.expiredCert, key: bad.key });
    await fails(
      get(client(trusted), expired.url('/')),
      'GRID_CONNECT_FAILED',
      /TLS handshake failed \(CERT_HAS_EXPIRED/,
      true,
    );
  });

  it('reports a server that requires a client certificate as a refusal of the credentials', async () => {
    const s = await tlsServer((_h, socket) => socket.write(ok('hello')), {
      requestCert: true,
      rejectUnauthorized: true,
    });
    await fails(
      get(client(trusted), s.url('/')),
      'GRID_UNAUTHORIZED',
      /refused the TLS connection without a client certificate/,
      false,
    );
    const withCert = { ...trusted, cert: readFileSync(pki.userCert), key: readFileSync(pki.userKey) };
    expect((await get(client(withCert), s.url('/'))).statusCode).toBe(200);
  });

  it('bounds a TLS handshake that never ends, and names plain HTTP at an https URL', async () => {
    const silent = await rawServer(() => undefined, { neverRead: true });
    servers.push(silent);
    const t0 = performance.now();
    await fails(
      get(client(trusted, 500), `https://127.0.0.1:${silent.port}/`),
      'GRID_CONNECT_FAILED',
      /no TLS handshake within 500 ms/,
      true,
    );
    expect(performance.now() - t0).toBeLessThan(2500);
    const plain = await rawServer((_h, socket) => socket.end(ok('plain')), {
      onConnection: (socket) => socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'),
    });
    servers.push(plain);
    await fails(
      get(client(trusted), `https://127.0.0.1:${plain.port}/`),
      'GRID_CONNECT_FAILED',
      /TLS handshake failed/,
      true,
    );
  });

  it('does not carry Authorization from https to http, even on the same host', async () => {
    const plain = await rawServer((_h, socket) => socket.write(ok('plain')));
    servers.push(plain);
    const s = await tlsServer((_h, socket) =>
      socket.write(
        `HTTP/1.1 301 Moved\r\nLocation: http://127.0.0.1:${plain.port}/x\r\nContent-Length: 0\r\n\r\n`,
      ),
    );
    const res = await client(trusted).request({
      url: s.url('/'),
      method: 'GET',
      headers: { Authorization: 'Bearer secret' },
      signal: AbortSignal.timeout(10_000),
    });
    await res.body.dump();
    expect(s.heads[0]).toMatch(/Authorization: Bearer secret/);
    expect(plain.heads[0]).not.toMatch(/Authorization/i);
  });

  it('presents the client certificate only to the origin the request was made for', async () => {
    const sawCert = (socket: unknown) => Object.keys((socket as TLSSocket).getPeerCertificate()).length > 0;
    const seen: Record<string, boolean[]> = { a: [], b: [] };
    const b = await tlsServer(
      (_h, socket) => {
        seen.b!.push(sawCert(socket));
        socket.write(ok('b'));
      },
      { requestCert: true },
    );
    const a = await tlsServer(
      (head, socket) => {
        seen.a!.push(sawCert(socket));
        if (requestPath(head) === '/away')
          socket.write(`HTTP/1.1 302 Found\r\nLocation: ${b.url('/there')}\r\nContent-Length: 0\r\n\r\n`);
        else socket.write(ok('a'));
      },
      { requestCert: true },
    );
    const c = client({ ...trusted, cert: readFileSync(pki.userCert), key: readFileSync(pki.userKey) });
    const drain = async (url: string) => (await get(c, url)).body.dump();
    await drain(a.url('/away'));
    // The same origin asked directly gets the certificate (its own connection, not the redirect's).
    await drain(b.url('/direct'));
    expect(seen).toEqual({ a: [true], b: [false, true] });
    expect(b.connections).toBe(2);
  });
});
