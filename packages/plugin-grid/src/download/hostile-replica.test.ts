import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MiB, startFileServer, type FileServer } from '../../test/support/file-server.js';
import { runDownload, tempDir } from '../../test/support/fixtures.js';
import { seedPart } from '../../test/support/parts.js';
import { rawServer, type RawHandler } from '../../test/support/raw-server.js';
import { toGridFile } from '../model/grid-file.js';
import type { DownloadOptions } from './download-options.js';
import type { GridEvent } from './grid-event.js';

/**
 * Whole downloads against replicas that misbehave on purpose: whatever a replica sends, no wrong byte
 * ends up under the final name, each failure takes the path its class says (retry, next replica,
 * stop) and nothing waits without bound.
 */
describe('downloads from hostile replicas', () => {
  const data = randomBytes(2 * MiB);
  const md5 = createHash('md5').update(data).digest('hex');
  let good: FileServer;
  let dest: string;
  const servers: Array<{ close(): Promise<void> }> = [];
  const quick: Partial<DownloadOptions> = {
    retry: { perReplica: 2, rounds: 1, backoff: { initialDelayMs: 5, maxDelayMs: 10 } },
  };

  beforeEach(async () => {
    good = await startFileServer();
    good.setFile('a.bin', data);
    dest = tempDir('hostile');
  });
  afterEach(async () => {
    await Promise.all([good, ...servers.splice(0)].map((s) => s.close()));
    rmSync(dest, { recursive: true, force: true });
  });

  async function hostile(respond: RawHandler) {
    const s = await rawServer(respond);
    servers.push(s);
    return s;
  }

  const outcomes = (events: GridEvent[]) =>
    events.flatMap((e) =>
      e.type === 'retry'
        ? [`retry ${e.error.code}`]
        : e.type === 'replica-switch'
          ? [`switch ${e.error.code}`]
          : [],
    );

  it('never writes a body in a transfer coding it cannot undo (gzip inside chunked), even without size or checksum', async () => {
    const gz = gzipSync(data);
    const chunked = Buffer.concat([
      Buffer.from(`${gz.length.toString(16)}\r\n`),
      gz,
      Buffer.from('\r\n0\r\n\r\n'),
    ]);
    const bad = await hostile((head, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nETag: "g1"\r\nTransfer-Encoding: gzip, chunked\r\n\r\n');
      if (head.startsWith('GET')) socket.write(chunked);
    });
    const alone = await runDownload([toGridFile({ url: bad.url('/a.bin') })], { dest, ...quick });
    expect(alone.error).toBeDefined();
    expect(outcomes(alone.events)).toEqual(['retry GRID_BAD_RESPONSE', 'switch GRID_BAD_RESPONSE']);
    expect(readdirSync(dest).filter((n) => n.startsWith('a.bin'))).toEqual([]);

    const { events, error } = await runDownload(
      [toGridFile({ urls: [bad.url('/a.bin'), good.url('a.bin')] })],
      { dest, ...quick },
    );
    expect(error).toBeUndefined();
    expect(outcomes(events)).toEqual(['retry GRID_BAD_RESPONSE', 'switch GRID_BAD_RESPONSE']);
    expect(readFileSync(join(dest, 'a.bin')).equals(data)).toBe(true);
  });

  it('moves on at once from a redirect to file:// and from a redirect loop, without retrying them', async () => {
    const toFile = await hostile((_h, socket) =>
      socket.write('HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n'),
    );
    const loop = await hostile((head, socket) =>
      socket.write(
        `HTTP/1.1 307 Temp\r\nLocation: ${head.includes('/x ') ? '/y' : '/x'}\r\nContent-Length: 0\r\n\r\n`,
      ),
    );
    const { events, error } = await runDownload(
      [
        toGridFile({
          urls: [toFile.url('/a.bin'), loop.url('/x'), good.url('a.bin')],
          size: data.length,
          md5,
        }),
      ],
      { dest, ...quick },
    );
    expect(error).toBeUndefined();
    expect(outcomes(events)).toEqual(['switch GRID_UNSUPPORTED_SCHEME', 'switch GRID_HTTP_STATUS']);
    const loopSwitch = events.find((e) => e.type === 'replica-switch' && e.error.code === 'GRID_HTTP_STATUS');
    expect(loopSwitch?.type === 'replica-switch' && loopSwitch.error.message).toMatch(
      /more than 5 redirects/,
    );
    expect(readFileSync(join(dest, 'a.bin')).equals(data)).toBe(true);
  });

  it('refuses a 206 whose Content-Range is not the range asked for, and splices nothing', async () => {
    const prefix = data.subarray(0, MiB);
    const lying = await hostile((head, socket) => {
      if (head.startsWith('HEAD'))
        return void socket.write(`HTTP/1.1 200 OK\r\nETag: "v1"\r\nContent-Length: ${data.length}\r\n\r\n`);
      const m = /Range: bytes=(\d+)-(\d+)/.exec(head);
      const start = Number(m?.[1] ?? 0) + 1;
      const body = data.subarray(start);
      socket.write(
        `HTTP/1.1 206 Partial\r\nETag: "v1"\r\nContent-Range: bytes ${start}-${data.length - 1}/${data.length}\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      socket.write(body);
    });
    const url = lying.url('/a.bin');
    seedPart(dest, 'a.bin', prefix, data.length, { url, validator: '"v1"' });
    const { events, error } = await runDownload([toGridFile({ url, size: data.length })], { dest, ...quick });
    expect(error).toBeDefined();
    expect(outcomes(events)).toEqual(['retry GRID_BAD_RESPONSE', 'switch GRID_BAD_RESPONSE']);
    expect(existsSync(join(dest, 'a.bin'))).toBe(false);
    expect(readFileSync(join(dest, 'a.bin.part')).equals(prefix)).toBe(true);
  });

  it('starts over when a resume is answered 416 (the file is shorter than the .part says)', async () => {
    good.behaviour.rangeStatus = { status: 416 };
    seedPart(dest, 'a.bin', randomBytes(MiB), data.length, {
      url: good.url('a.bin'),
      validator: '"v1-2097152"',
    });
    const { events, error } = await runDownload([toGridFile({ url: good.url('a.bin'), size: data.length })], {
      dest,
      ...quick,
    });
    expect(error).toBeUndefined();
    expect(outcomes(events)).toEqual(['retry GRID_CONTENT_CHANGED']);
    expect(readFileSync(join(dest, 'a.bin')).equals(data)).toBe(true);
  });

  it('segmented: a segment answered 416 discards the .part and the retry starts over', async () => {
    // The segments of the first attempt (after its HEAD) are refused, those of the second are not.
    const heads = () => good.stats.requests.filter((r) => r.method === 'HEAD').length;
    good.behaviour.rangeStatus = { status: 416, when: () => heads() === 1 };
    const { events, error } = await runDownload(
      [toGridFile({ url: good.url('a.bin'), size: data.length, md5 })],
      {
        dest,
        segments: 4,
        segmentMinSize: 1,
        retry: { perReplica: 3, rounds: 1, backoff: { initialDelayMs: 5, maxDelayMs: 10 } },
      },
    );
    expect(error).toBeUndefined();
    expect(outcomes(events)).toEqual(['retry GRID_CONTENT_CHANGED']);
    expect(readFileSync(join(dest, 'a.bin')).equals(data)).toBe(true);
  });

  it('cuts a body that drips one byte at a time (the stall watchdog) and takes the next replica', async () => {
    const drip = await hostile((head, socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`);
      if (!head.startsWith('GET')) return;
      let i = 0;
      const t = setInterval(() => socket.write(data.subarray(i, ++i)), 100);
      socket.once('close', () => clearInterval(t));
    });
    const t0 = performance.now();
    const { events, error } = await runDownload(
      [toGridFile({ urls: [drip.url('/a.bin'), good.url('a.bin')], size: data.length, md5 })],
      { dest, ...quick, stall: { minBytesPerSec: 64 * 1024, windowMs: 800 } },
    );
    expect(error).toBeUndefined();
    expect(outcomes(events)).toEqual(['switch GRID_STALLED']);
    expect(performance.now() - t0).toBeLessThan(8000);
    expect(drip.open).toBe(0);
  });
});
