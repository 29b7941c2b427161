import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { GridError } from '../errors/grid-error.js';
import type { TransferAttempt, TransferDriver, TransferResult, TransferSession } from './driver.js';

const execFileAsync = promisify(execFile);

/** Settings of the `root://` driver. */
export interface XrdcpOptions {
  /** The xrdcp binary. Default `xrdcp` from PATH. */
  readonly path?: string;
  /** Extra environment (XRD_* settings); the defaults shorten XRootD's long connection timeouts. */
  readonly env?: Readonly<Record<string, string>>;
}

const UNIT: Record<string, number> = { B: 1, kB: 1e3, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/**
 * Reads the last progress record from xrdcp's bar (`[8MB/47.68MB][ 16%][==>  ][8MB/s]`, printed only to
 * a terminal). xrdcp's units are binary multiples written as kB/MB/GB.
 */
export function parseXrdcpProgress(
  text: string,
): { bytes: number; total: number; percent: number } | undefined {
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
function xrdcpAvailable(path = 'xrdcp'): Promise<boolean> {
  if (path !== 'xrdcp') return hasBinary(path, ['--version']);
  return (xrdcpFound ??= hasBinary('xrdcp', ['--version']));
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Fetches `root://` replicas with xrdcp as a subprocess (no XRootD client exists on npm). One replica
 * per call: the plugin does the failover, because xrdcp's own Metalink failover did not work in 5.5.3.
 * `--continue` resumes the `.part`, only when expected checksums vouch for its bytes (xrdcp gives no
 * validator to compare); the job then fsyncs, hashes and verifies it exactly like an HTTP download.
 * Progress comes from xrdcp's bar, which it prints only to a terminal, so it runs under `script` when
 * available; the `.part` size is the fallback.
 */
export const xrdcpDriver: TransferDriver = {
  name: 'xrdcp',
  schemes: ['root', 'roots', 'xroot', 'xroots'],
  open: (job) => new XrdcpSession(job.options.xrdcp ?? {}),
};

class XrdcpSession implements TransferSession {
  private readonly children = new Set<ChildProcess>();

  constructor(private readonly options: XrdcpOptions) {}

  async transfer(a: TransferAttempt): Promise<TransferResult> {
    const bin = this.options.path ?? 'xrdcp';
    if (!(await xrdcpAvailable(bin))) {
      throw new GridError(
        'GRID_XRDCP_MISSING',
        `${a.where} needs xrdcp, which is not installed (Debian: apt-get install xrootd-client)`,
        {
          retryable: false,
        },
      );
    }
    const startAt = await prepareTarget(a);
    const code = await this.run(a, bin, startAt);
    if (a.signal.aborted)
      throw new GridError('GRID_ABORTED', 'download aborted; the .part file is kept for resume', {
        cause: a.signal.reason,
      });
    if (code.exit !== 0) {
      const msg = code.tail
        .replace(/\r/g, '\n')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('['))
        .slice(-3)
        .join(' | ');
      // Exit 50-55 are XRootD errors; a checksum failure means the replica's content is wrong.
      const cksum = /checksum/i.test(msg);
      throw new GridError(
        cksum ? 'GRID_CHECKSUM_MISMATCH' : 'GRID_XRDCP_FAILED',
        `${a.where}: xrdcp exited with ${code.exit}: ${msg.replace(/\?[^\s]*/g, '?***')}`,
        {
          retryable: true,
          details: { exitCode: code.exit },
        },
      );
    }
    const fh = await a.part.open(false);
    try {
      await fh.datasync();
      return { size: (await fh.stat()).size };
    } finally {
      await fh.close();
    }
  }

  close(): Promise<void> {
    for (const child of this.children) child.kill('SIGKILL');
    this.children.clear();
    return Promise.resolve();
  }

  /** Runs xrdcp into the `.part`, reporting progress; resolves with its exit code and last output. */
  private async run(
    a: TransferAttempt,
    bin: string,
    startAt: number,
  ): Promise<{ exit: number | null; tail: string }> {
    const args = [
      '--nopbar',
      '--retry',
      '2',
      '--retry-policy',
      'continue',
      ...(startAt > 0 ? ['--continue'] : ['--force']),
    ];
    const adler = a.expected.adler32;
    if (adler !== undefined) args.push('--cksum', `adler32:${adler}`);
    args.push(a.url, a.part.path);
    const env = {
      ...process.env,
      // XRootD waits 120 s x 5 for a dead server by default; the plugin has other replicas to try.
      XRD_CONNECTIONWINDOW: '10',
      XRD_CONNECTIONRETRY: '1',
      XRD_REQUESTTIMEOUT: '300',
      XRD_STREAMTIMEOUT: '60',
      ...this.options.env,
    };
    const useScript = await (scriptFound ??= hasBinary('script', ['--version']));
    // Under a pseudo-terminal xrdcp prints its progress bar; drop --nopbar there.
    const child = useScript
      ? spawn(
          'script',
          ['-qfec', [bin, ...args.filter((x) => x !== '--nopbar')].map(shellQuote).join(' '), '/dev/null'],
          {
            env,
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        )
      : spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    const progress = new XrdcpProgress(a, startAt);
    child.stdout.on('data', (buf: Buffer) => progress.output(buf));
    child.stderr.on('data', (buf: Buffer) => progress.output(buf));
    const onAbort = () => child.kill('SIGTERM');
    a.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const exit = await new Promise<number | null>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (c) => resolve(c));
      });
      return { exit, tail: progress.tail };
    } finally {
      progress.stop();
      this.children.delete(child);
      a.signal.removeEventListener('abort', onAbort);
    }
  }
}

/**
 * Decides where xrdcp starts and prepares the `.part` for it: resumed (`--continue`) only when it is
 * non-empty, not longer than expected, and expected checksums vouch for it; else removed. The `.part`
 * is created here, through the checked directory, so xrdcp opens a regular file, not a planted link.
 * The state is written before xrdcp starts.
 */
async function prepareTarget(a: TransferAttempt): Promise<number> {
  const state = await a.part.readState();
  const have = await a.part.size();
  const vouched = Object.keys(a.expected).length > 0;
  const resume =
    state !== undefined &&
    have !== undefined &&
    have > 0 &&
    vouched &&
    (a.size === undefined || have <= a.size);
  if (!resume) await a.part.remove();
  const startAt = resume ? have : 0;
  await a.part.writeState({
    version: 2,
    url: a.where,
    size: a.size,
    validator: undefined,
    expected: a.expected,
    bootId: undefined,
    segments: [{ start: 0, end: a.size, done: startAt, durable: 0 }],
  });
  await (await a.part.open(!resume)).close();
  if (resume) a.onResume(startAt, `resuming ${a.where} with xrdcp --continue at byte ${startAt}`);
  return startAt;
}

/** Progress of one xrdcp run: its bar when it prints one, else the `.part` size, polled. */
class XrdcpProgress {
  tail = '';
  private reported: number;
  private readonly poll: NodeJS.Timeout;

  constructor(
    private readonly a: TransferAttempt,
    startAt: number,
  ) {
    this.reported = startAt;
    // The bar rounds to 0.01 MB and is absent without a terminal; the file size is exact.
    this.poll = setInterval(() => {
      void a.part.size().then(
        (n) => {
          if (n !== undefined) this.report(n);
        },
        () => undefined,
      );
    }, 500);
  }

  output(buf: Buffer): void {
    const text = buf.toString('latin1');
    this.tail = (this.tail + text).slice(-4096);
    const p = parseXrdcpProgress(text);
    if (p) this.report(Math.min(p.bytes, this.a.size ?? p.total));
  }

  report(bytes: number): void {
    if (bytes > this.reported) {
      this.a.onData(bytes - this.reported);
      this.reported = bytes;
    }
  }

  stop(): void {
    clearInterval(this.poll);
  }
}
