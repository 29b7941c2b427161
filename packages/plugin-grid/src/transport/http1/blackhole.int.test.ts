import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { requireService } from '@beamline/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasBinary } from '../../../test/support/binaries.js';
import { MiB, startFileServer, type FileServer } from '../../../test/support/file-server.js';
import { runDownload, tempDir } from '../../../test/support/fixtures.js';
import { isGridError } from '../../errors/grid-error.js';
import { toGridFile } from '../../model/grid-file.js';
import { Http1Client } from './client.js';

/**
 * A replica whose address swallows every SYN (no refusal, no answer): a network namespace of our own
 * behind a veth pair, dropping TCP. Needs root (CAP_NET_ADMIN), `ip` and `iptables`.
 */
function canMakeNamespaces(): boolean {
  return process.getuid?.() === 0 && hasBinary('ip', '-V') && hasBinary('iptables', '--version');
}

const available = requireService(
  'network namespaces (root, ip, iptables)',
  canMakeNamespaces(),
  'run as root with iproute2 and iptables (packages/plugin-grid/scripts/setup-test-env.sh installs them)',
);

/** Our own namespace and addresses, named after this process so parallel runs do not meet. */
class Blackhole {
  readonly ns = `gridbh${process.pid}`;
  readonly hostIf = `gbh${process.pid % 100_000}h`;
  readonly nsIf = `gbh${process.pid % 100_000}n`;
  readonly net = `10.231.${process.pid % 250}`;
  /** An address whose TCP packets are dropped. */
  readonly address = `${this.net}.2`;

  up(): void {
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    this.down();
    ip('netns', 'add', this.ns);
    ip('link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', this.nsIf);
    ip('link', 'set', this.nsIf, 'netns', this.ns);
    ip('addr', 'add', `${this.net}.1/30`, 'dev', this.hostIf);
    ip('link', 'set', this.hostIf, 'up');
    ip('netns', 'exec', this.ns, 'ip', 'addr', 'add', `${this.address}/30`, 'dev', this.nsIf);
    ip('netns', 'exec', this.ns, 'ip', 'link', 'set', this.nsIf, 'up');
    ip('netns', 'exec', this.ns, 'iptables', '-A', 'INPUT', '-p', 'tcp', '-j', 'DROP');
  }

  down(): void {
    for (const args of [
      ['link', 'del', this.hostIf],
      ['netns', 'del', this.ns],
    ]) {
      try {
        execFileSync('ip', args, { stdio: 'pipe' });
      } catch {
        // Not there (first run, or already removed).
      }
    }
  }
}

describe.skipIf(!available)('connecting to a blackhole address', () => {
  const hole = new Blackhole();
  let good: FileServer;
  let dest: string;
  const data = randomBytes(MiB);
  const md5 = createHash('md5').update(data).digest('hex');

  beforeAll(async () => {
    hole.up();
    good = await startFileServer();
    good.setFile('a.bin', data);
    good.setFile('b.bin', data);
    dest = tempDir('blackhole');
  });
  afterAll(async () => {
    hole.down();
    await good?.close();
    rmSync(dest, { recursive: true, force: true });
  });

  it('gives up after the connect timeout with GRID_CONNECT_FAILED, for http and https', async () => {
    const client = new Http1Client({
      connectionsPerHost: 2,
      connectTimeoutMs: 500,
      headersTimeoutMs: 5000,
      bodyTimeoutMs: 5000,
    });
    for (const url of [`http://${hole.address}:81/a`, `https://${hole.address}:444/a`]) {
      const t0 = performance.now();
      const e = await client
        .request({ url, method: 'GET', headers: {}, signal: AbortSignal.timeout(10_000) })
        .catch((err: unknown) => err);
      expect(isGridError(e, 'GRID_CONNECT_FAILED'), String(e)).toBe(true);
      expect((e as Error).message).toMatch(/no connection within 500 ms/);
      expect(performance.now() - t0).toBeLessThan(2500);
    }
    // An abort while connecting ends the wait at once, with the abort's reason.
    const ctl = new AbortController();
    const pending = client.request({
      url: `http://${hole.address}:82/a`,
      method: 'GET',
      headers: {},
      signal: ctl.signal,
    });
    setTimeout(() => ctl.abort(new Error('unsubscribed')), 50);
    await expect(pending).rejects.toThrow('unsubscribed');
    await client.destroy();
  });

  it('moves the download to the next replica, and later files of the job try the blackhole last', async () => {
    const t0 = performance.now();
    const { events, error } = await runDownload(
      ['a.bin', 'b.bin'].map((n) =>
        toGridFile({
          urls: [`http://${hole.address}:81/${n}`, good.url(n)],
          size: data.length,
          md5,
          dest: n,
        }),
      ),
      { dest, parallel: 1, timeouts: { connectMs: 500 } },
    );
    expect(error).toBeUndefined();
    const outcomes = events.flatMap((e) =>
      e.type === 'retry'
        ? [`retry ${e.error.code}`]
        : e.type === 'replica-switch'
          ? [`switch ${e.error.code}`]
          : [],
    );
    expect(outcomes).toEqual(['switch GRID_CONNECT_FAILED']);
    expect(performance.now() - t0).toBeLessThan(5000);
    for (const n of ['a.bin', 'b.bin']) expect(readFileSync(join(dest, n)).equals(data)).toBe(true);
  });
});
