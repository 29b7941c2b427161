import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { lastValueFrom } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDownloadChild } from '../../../test/support/child.js';
import { tempDir } from '../../../test/support/fixtures.js';
import { rawServer, requestPath, type RawServer } from '../../../test/support/raw-server.js';
import { download } from '../../download/downloader.js';
import { isGridError } from '../../errors/grid-error.js';
import { toGridFile } from '../../model/grid-file.js';

const MiB = 1024 * 1024;

/**
 * Resources under load and under cancellation: many parallel files from one slow server cost a
 * bounded amount of memory each (measured in a child process), and aborts at any moment leave no
 * socket or file descriptor behind.
 */
describe('resources', () => {
  const data = randomBytes(8 * MiB);
  const md5 = createHash('md5').update(data).digest('hex');
  const small = data.subarray(0, 64 * 1024);
  const smallMd5 = createHash('md5').update(small).digest('hex');
  let slow: RawServer;
  let root: string;

  beforeAll(async () => {
    root = tempDir('resources');
    // Each response: 256 KiB every 40 ms (about 6 MB/s): the client waits on the network, not the disk.
    slow = await rawServer((head, socket) => {
      // Small files at once (their connections are idle when an abort comes), large ones slowly.
      if (requestPath(head).includes('/small'))
        return void socket.write(
          Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${small.length}\r\n\r\n`), small]),
        );
      socket.write(`HTTP/1.1 200 OK\r\nETag: "r1"\r\nContent-Length: ${data.length}\r\n\r\n`);
      if (!head.startsWith('GET')) return;
      let off = 0;
      const t = setInterval(() => {
        const piece = data.subarray(off, (off += 256 * 1024));
        if (piece.length > 0) socket.write(piece);
        if (off >= data.length) clearInterval(t);
      }, 40);
      socket.once('close', () => clearInterval(t));
    });
  });
  afterAll(async () => {
    await slow.close();
    rmSync(root, { recursive: true, force: true });
  });

  const files = (n: number, tag: string) =>
    Array.from({ length: n }, (_, i) => ({
      url: slow.url(`/${tag}/f${i}`),
      size: data.length,
      md5,
      dest: `f${i}`,
    }));

  /** Peak RSS (MiB) of a child downloading `n` files at once. */
  async function peakRss(n: number, tag: string): Promise<number> {
    const child = startDownloadChild(files(n, tag), `${root}/${tag}`, { parallel: n, perHost: n });
    const out = await child.exited;
    expect(out.code, out.stdout + out.stderr).toBe(0);
    return Number(/maxrss (\d+)/.exec(out.stdout)![1]) / 1024;
  }

  it('many parallel files from one slow server: memory grows by a few MiB per stream, not per file size', async () => {
    const one = await peakRss(1, 'one');
    const many = await peakRss(24, 'many');
    const perStream = (many - one) / 23;
    // Per stream: the connection's 64 KiB, the 1 MiB batch being filled and up to two being hashed.
    // A body held in memory would be 8 MiB per stream.
    expect(perStream, `1 stream ${one.toFixed(0)} MiB, 24 streams ${many.toFixed(0)} MiB`).toBeLessThan(4);
    expect(slow.maxOpen).toBeLessThanOrEqual(24);
  });

  it('aborts at random moments (signal or unsubscribe) leave no socket and no file descriptor open', async () => {
    const fds = () => readdirSync('/proc/self/fd').length;
    const list = (i: number) =>
      [
        ...files(2, `abort${i}`),
        ...[0, 1].map((j) => ({
          url: slow.url(`/abort${i}/small${j}`),
          size: small.length,
          md5: smallMd5,
          dest: `s${j}`,
        })),
      ].map((f, j) => toGridFile(f, j));
    // A first, complete download loads everything a download opens once (modules, the wasm, the worker).
    await lastValueFrom(download(list(-1).slice(0, 1), { dest: `${root}/warm` }), {
      defaultValue: undefined,
    });
    await sleep(100);
    const before = fds();
    for (let i = 0; i < 16; i++) {
      const dest = `${root}/abort${i}`;
      const delay = Math.floor(Math.random() * 400);
      if (i % 2 === 0) {
        const ctl = new AbortController();
        setTimeout(() => ctl.abort(new Error('stop')), delay);
        const e = await lastValueFrom(
          download(list(i), { dest, parallel: 4, perHost: 4, signal: ctl.signal }),
        ).catch((err: unknown) => err);
        expect(isGridError(e, 'GRID_ABORTED'), String(e)).toBe(true);
      } else {
        const sub = download(list(i), { dest, parallel: 4, perHost: 4 }).subscribe({
          error: () => undefined,
        });
        await sleep(delay);
        sub.unsubscribe();
      }
    }
    // Unsubscribing returns at once; the job then closes what it opened.
    for (let t = 0; t < 50 && (slow.open > 0 || fds() > before); t++) await sleep(100);
    expect(slow.open).toBe(0);
    expect(fds()).toBeLessThanOrEqual(before);
  });
});
