import { spawn, execFile } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { ChecksumAlgorithm, Checksums } from '../checksums/checksum-format.js';
import { hashFile } from '../checksums/multi-hasher.js';
import { GridError } from '../errors/grid-error.js';
import { partPaths, readPartState, removePart, writePartState } from '../files/part-file.js';
import { redactUrl } from './http-headers.js';

const execFileAsync = promisify(execFile);

/** Settings of the `root://` driver. */
export interface XrdcpOptions {
  /** The xrdcp binary. Default `xrdcp` from PATH. */
  readonly path?: string;
  /** Extra environment (XRD_* settings); the defaults shorten XRootD's long connection timeouts. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Whether a URL is for the xrdcp driver. */
export function isXrootdUrl(url: string): boolean {
  return /^(root|roots|xroot|xroots):\/\//i.test(url);
}

const UNIT: Record<string, number> = { B: 1, kB: 1e3, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/**
 * Reads the last progress record from xrdcp's bar (`[8MB/47.68MB][ 16%][==>  ][8MB/s]`, printed only to
 * a terminal). xrdcp's units are binary multiples written as kB/MB/GB.
 */
export function parseXrdcpProgress(text: string): { bytes: number; total: number; percent: number } | undefined {
  const re = /\[(\d+(?:\.\d+)?)([kKMGT]?B)\/(\d+(?:\.\d+)?)([kKMGT]?B)\]\[\s*(\d+)%\]/g;
  let last: RegExpExecArray | null = null;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) last = m;
  if (!last) return undefined;
  const unit = (u: string) => (u === 'kB' || u === 'KB' ? 1024 : (UNIT[u] ?? 1));
  return {
    bytes: Math.round(Number(last[1]) * unit(last[2]!)),
    total: Math.round(Number(last[3]) * unit(last[4]!)),
    percent: Number(last[5]),
  };
}

let xrdcpFound: Promise<boolean> | undefined;
let scriptFound: Promise<boolean> | undefined;

async function hasBinary(bin: string, args: string[]): Promise<boolean> {
  try {
    await execFileAsync(bin, args, { timeout: 10_000 });
    return true;
  } catch (e) {
    return (e as { code?: unknown }).code !== 'ENOENT';
  }
}

/** Whether xrdcp can be run (cached per process). */
export function xrdcpAvailable(path = 'xrdcp'): Promise<boolean> {
  if (path !== 'xrdcp') return hasBinary(path, ['--version']);
  return (xrdcpFound ??= hasBinary('xrdcp', ['--version']));
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** What one xrdcp attempt needs. */
export interface XrdcpAttemptOptions {
  readonly url: string;
  readonly dest: string;
  readonly size: number | undefined;
  readonly expected: Checksums;
  readonly algorithms: ReadonlySet<ChecksumAlgorithm>;
  readonly signal: AbortSignal;
  readonly onData: (bytes: number) => void;
  readonly onResume: (offset: number, note: string) => void;
  readonly onLog: (text: string) => void;
  readonly xrdcp: XrdcpOptions;
}

/**
 * Fetches a `root://` replica into `<dest>.part` with xrdcp as a subprocess (no XRootD client exists
 * on npm). One replica per call: the plugin does the failover, because xrdcp's own Metalink failover
 * did not work in 5.5.3. `--continue` resumes the `.part`; xrdcp writes it, then the plugin fsyncs,
 * hashes and verifies it exactly like an HTTP download. Progress comes from xrdcp's bar, which it
 * prints only to a terminal, so it runs under `script` when available; the `.part` size is the fallback.
 */
export async function downloadXrdcp(o: XrdcpAttemptOptions): Promise<{ size: number; checksums: Checksums; serverDigests: Checksums }> {
  const bin = o.xrdcp.path ?? 'xrdcp';
  if (!(await xrdcpAvailable(bin))) {
    throw new GridError('GRID_XRDCP_MISSING', `${redactUrl(o.url)} needs xrdcp, which is not installed (Debian: apt-get install xrootd-client)`, {
      retryable: false,
    });
  }
  const paths = partPaths(o.dest);
  const where = redactUrl(o.url);
  const state = await readPartState(paths.state);
  const partSize = await stat(paths.part).then((s) => s.size, () => undefined);
  const hasExpected = Object.keys(o.expected).length > 0;
  let resume = state !== undefined && partSize !== undefined && partSize > 0 && (state.url === where || hasExpected);
  if (!resume && (state !== undefined || partSize !== undefined)) await removePart(o.dest);
  if (resume && o.size !== undefined && partSize! > o.size) {
    await removePart(o.dest);
    resume = false;
  }
  await writePartState(paths.state, {
    version: 1,
    url: where,
    size: o.size,
    etag: undefined,
    lastModified: undefined,
    expected: o.expected,
    segments: [{ start: 0, end: o.size, done: 0 }],
  });
  const startAt = resume ? partSize! : 0;
  if (resume) o.onResume(startAt, `resuming ${where} with xrdcp --continue at byte ${startAt}`);

  const args = ['--nopbar', '--retry', '2', '--retry-policy', 'continue', ...(resume ? ['--continue'] : ['--force'])];
  const adler = o.expected.adler32;
  if (adler !== undefined) args.push('--cksum', `adler32:${adler}`);
  args.push(o.url, paths.part);
  const env = {
    ...process.env,
    // XRootD waits 120 s x 5 for a dead server by default; the plugin has other replicas to try.
    XRD_CONNECTIONWINDOW: '10',
    XRD_CONNECTIONRETRY: '1',
    XRD_REQUESTTIMEOUT: '300',
    XRD_STREAMTIMEOUT: '60',
    ...o.xrdcp.env,
  };
  const useScript = await (scriptFound ??= hasBinary('script', ['--version']));
  // Under a pseudo-terminal xrdcp prints its progress bar; drop --nopbar there.
  const child = useScript
    ? spawn('script', ['-qfec', [bin, ...args.filter((a) => a !== '--nopbar')].map(shellQuote).join(' '), '/dev/null'], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    : spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });

  let reported = startAt;
  const report = (bytes: number) => {
    if (bytes > reported) {
      o.onData(bytes - reported);
      reported = bytes;
    }
  };
  let tail = '';
  const onOut = (buf: Buffer) => {
    const text = buf.toString('latin1');
    tail = (tail + text).slice(-4096);
    const p = parseXrdcpProgress(text);
    if (p) report(Math.min(p.bytes, o.size ?? p.total));
  };
  child.stdout.on('data', onOut);
  child.stderr.on('data', onOut);
  // The bar rounds to 0.01 MB and is absent without a terminal; the file size is exact.
  const poll = setInterval(() => {
    void stat(paths.part).then((s) => report(s.size), () => undefined);
  }, 500);
  const onAbort = () => child.kill('SIGTERM');
  o.signal.addEventListener('abort', onAbort, { once: true });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  }).finally(() => {
    clearInterval(poll);
    o.signal.removeEventListener('abort', onAbort);
  });
  if (o.signal.aborted) throw new GridError('GRID_ABORTED', 'download aborted; the .part file is kept for resume', { cause: o.signal.reason });
  if (code !== 0) {
    const msg = tail.replace(/\r/g, '\n').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('[')).slice(-3).join(' | ');
    // Exit 50-55 are XRootD errors; a checksum failure means the replica's content is wrong.
    const cksum = /checksum/i.test(msg);
    throw new GridError(cksum ? 'GRID_CHECKSUM_MISMATCH' : 'GRID_XRDCP_FAILED', `${where}: xrdcp exited with ${code}: ${msg.replace(/\?[^\s]*/g, '?***')}`, {
      retryable: true,
      details: { exitCode: code },
    });
  }
  const fh = await open(paths.part, 'r+');
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
  const size = (await stat(paths.part)).size;
  report(size);
  const checksums = await hashFile(paths.part, o.algorithms, o.signal);
  return { size, checksums, serverDigests: {} };
}
