/**
 * Throughput on loopback, with the tools users would pick instead on the same files in the same run:
 * - eight 256 MiB files, 8 in parallel: plugin-grid with adler32 verification (HTTP from nginx) vs
 *   `curl` x8 (no verification; also `curl` x8 followed by `sync`, which pays the writeback that
 *   plugin-grid's fsync-before-rename pays, as an informative column), `aria2c -j8 -x1
 *   --checksum=adler32=…`, and `xrdcp --cksum adler32:print` x8 from Debian's xrootd server over
 *   root:// (plus plugin-grid fetching root:// through its xrdcp driver, informative);
 * - one 1 GiB file: plugin-grid with adler32 vs curl.
 * Median of BENCH_RUNS (default 5) rounds; each round runs every tool once (interleaved, the order
 * rotating from round to round), each run after the same preparation (outputs deleted, `sync`, sources
 * read into the page cache). Files live in one temp dir (sources and outputs on the same file system)
 * that is removed at the end.
 * Env: BENCH_SMALL=1 shrinks the files (quick check), BENCH_RUNS=n, BENCH_ONLY=substring (run only the
 * cases whose name contains it, e.g. `8 files`).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom } from 'rxjs';
import { adler32Update, ADLER32_INIT, formatAdler32 } from '../src/checksums/adler32.js';
import { download } from '../src/download/downloader.js';
import { toGridFile } from '../src/model/grid-file.js';
import { startNginx } from '../test/support/nginx.js';
import { tempDir } from '../test/support/fixtures.js';
import { startXrootd } from '../test/support/xrootd.js';

const MiB = 1024 * 1024;
const small = process.env.BENCH_SMALL === '1';
const runs = Number(process.env.BENCH_RUNS ?? 5);
const EIGHT = small ? 32 * MiB : 256 * MiB;
const ONE = small ? 128 * MiB : 1024 * MiB;

const root = tempDir('bench');
const data = join(root, 'data');
mkdirSync(data);

function makeFile(name: string, size: number): void {
  // Random data without holding it in memory: head from /dev/urandom.
  execFileSync('sh', [
    '-c',
    `head -c ${size} /dev/urandom > ${join(data, name)} && chmod 644 ${join(data, name)}`,
  ]);
}

async function fileAdler(path: string): Promise<string> {
  let a = ADLER32_INIT;
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB }))
    a = adler32Update(a, chunk as Buffer);
  return formatAdler32(a);
}

/** Runs a tool; resolves with what it printed (stdout and stderr). */
function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    p.stdout.on('data', (d: Buffer) => (text += d.toString()));
    p.stderr.on('data', (d: Buffer) => (text += d.toString()));
    p.once('exit', (code) =>
      code === 0 ? resolve(text) : reject(new Error(`${cmd} exited ${code}: ${text.slice(-500)}`)),
    );
  });
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const names = Array.from({ length: 8 }, (_, i) => `f${i}.bin`);
console.log(`creating 8 x ${EIGHT / MiB} MiB and 1 x ${ONE / MiB} MiB in ${data} ...`);
for (const n of names) makeFile(n, EIGHT);
makeFile('one.bin', ONE);
const adlers = new Map<string, string>();
for (const n of [...names, 'one.bin']) adlers.set(n, await fileAdler(join(data, n)));

const nginx = await startNginx({ dir: join(root, 'nginx'), dataDir: data });
const xrootd = await startXrootd(join(root, 'xrootd'), data);
const port = nginx.ports.replicas[0];
const url = (n: string) => `http://127.0.0.1:${port}/${n}`;
const rootUrl = (n: string) => `root://127.0.0.1:${xrootd.rootPort}//${n}`;
const out = join(root, 'out');
const clean = () => {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
};

const grid =
  (files: string[], parallel: number, at = url) =>
  async () => {
    const list = files.map((n) =>
      toGridFile({ url: at(n), size: n === 'one.bin' ? ONE : EIGHT, adler32: adlers.get(n)! }),
    );
    await lastValueFrom(
      download(list, { dest: out, parallel, perHost: parallel, credentials: { bearerToken: false } }),
      { defaultValue: undefined },
    );
  };
const curl =
  (files: string[], thenSync = false) =>
  async () => {
    await Promise.all(files.map((n) => run('curl', ['-sSf', '-o', join(out, n), url(n)])));
    if (thenSync) await run('sync', []);
  };
/** xrdcp x8, each printing the adler32 it computed (and checked here against the reference). */
const xrdcp = (files: string[]) => async () => {
  await Promise.all(
    files.map(async (n) => {
      const printed = await run('xrdcp', ['-s', '--cksum', 'adler32:print', rootUrl(n), join(out, n)]);
      const got = /adler32:\s*([0-9a-f]+)/.exec(printed)?.[1]?.padStart(8, '0');
      if (got !== adlers.get(n)) throw new Error(`xrdcp ${n}: adler32 ${got} != ${adlers.get(n)}`);
    }),
  );
};
const aria = (files: string[]) => async () => {
  const input = files.map((n) => `${url(n)}\n  out=${n}\n  checksum=adler32=${adlers.get(n)!}`).join('\n');
  const listFile = join(root, 'aria2.txt');
  execFileSync('sh', ['-c', `cat > ${listFile}`], { input });
  await run('aria2c', [
    '-q',
    '-j8',
    '-x1',
    '--file-allocation=none',
    '--allow-overwrite=true',
    '--auto-file-renaming=false',
    '-d',
    out,
    '-i',
    listFile,
  ]);
};

interface Case {
  name: string;
  bytes: number;
  files: string[];
  fn: () => Promise<void>;
  times: number[];
}
const eightBytes = 8 * EIGHT;
const eight = (name: string, fn: () => Promise<void>): Case => ({
  name: `8 files: ${name}`,
  bytes: eightBytes,
  files: names,
  fn,
  times: [],
});
const one = (name: string, fn: () => Promise<void>): Case => ({
  name: `1 file: ${name}`,
  bytes: ONE,
  files: ['one.bin'],
  fn,
  times: [],
});
const cases: Case[] = [
  eight('curl x8 (no verification)', curl(names)),
  eight('curl x8, then sync', curl(names, true)),
  eight('aria2c -j8 -x1 + adler32', aria(names)),
  eight('xrdcp x8 --cksum adler32:print', xrdcp(names)),
  eight('plugin-grid parallel 8 + adler32', grid(names, 8)),
  eight('plugin-grid root:// (xrdcp driver)', grid(names, 8, rootUrl)),
  one('curl (no verification)', curl(['one.bin'])),
  one('plugin-grid + adler32', grid(['one.bin'], 1)),
].filter((c) => c.name.includes(process.env.BENCH_ONLY ?? ''));

/**
 * The same preparation before every run of every tool: outputs deleted, dirty pages of earlier runs
 * written back (`sync`), and the source files read once so nginx serves them from the page cache.
 */
async function prepare(files: string[]): Promise<void> {
  clean();
  execFileSync('sync');
  for (const n of files)
    for await (const _ of createReadStream(join(data, n), { highWaterMark: 4 * MiB })) void _;
}

const mbs = (c: Case) => c.bytes / median(c.times) / 1e6;

function versions(): string {
  const first = (cmd: string, args: string[], re: RegExp) => {
    try {
      const r = spawnSync(cmd, args, { encoding: 'utf8' });
      return re.exec(`${r.stdout}${r.stderr}`)?.[1] ?? '?';
    } catch {
      return '?';
    }
  };
  return [
    `nginx ${first('nginx', ['-v'], /nginx\/(\S+)/)}`,
    `curl ${first('curl', ['--version'], /curl (\S+)/)}`,
    `aria2 ${first('aria2c', ['--version'], /version (\S+)/)}`,
    `xrdcp ${first('xrdcp', ['--version'], /(v\S+)/)}`,
  ].join(', ');
}
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

try {
  console.log(
    `\nmachine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, node ${process.version}; nginx and xrootd on loopback`,
  );
  console.log(`tools: ${versions()}`);
  console.log(`load average before: ${load()}; ${runs} rounds, the tools interleaved within each round`);
  for (let r = 0; r < runs; r++) {
    // The order rotates each round: the run right after another tool's is measurably slower (about
    // 10-15% for the same code, seen with plugin-grid), so no tool may always sit in the same place.
    for (let i = 0; i < cases.length; i++) {
      const c = cases[(i + r) % cases.length]!;
      await prepare(c.files);
      c.times.push(await timed(c.fn));
    }
    console.log(`round ${r + 1}/${runs} done (load ${load()})`);
  }
  console.log('');
  for (const c of cases) {
    console.log(
      `${c.name.padEnd(44)} ${mbs(c).toFixed(0).padStart(6)} MB/s  (runs: ${c.times.map((t) => t.toFixed(2)).join(', ')} s)`,
    );
  }
  // Ratios two ways: of the medians, and the median of the per-round ratios (each round's runs are
  // seconds apart, so the second is less sensitive to load that changes during the benchmark).
  const byName = (n: string) => cases.find((x) => x.name.startsWith(n))!;
  const ratio = (a: string, b: string) => {
    const ca = byName(a);
    const cb = byName(b);
    const perRound = ca.times.map((t, i) => ca.bytes / t / (cb.bytes / cb.times[i]!));
    return `${(mbs(ca) / mbs(cb)).toFixed(2)}  (per-round median ${median(perRound).toFixed(2)}; rounds ${perRound.map((x) => x.toFixed(2)).join(', ')})`;
  };
  console.log('\nratios of the medians:');
  const report = (a: string, b: string, note: string) => {
    if (cases.some((c) => c.name.startsWith(a)) && cases.some((c) => c.name.startsWith(b)))
      console.log(`  ${a.padEnd(34)} / ${b.padEnd(30)} = ${ratio(a, b)}  ${note}`);
  };
  report('8 files: plugin-grid parallel', '8 files: curl x8 (no', 'target >= 0.7');
  report('8 files: plugin-grid parallel', '8 files: xrdcp', 'target > 1');
  report('8 files: plugin-grid parallel', '8 files: aria2c', '');
  report('8 files: plugin-grid parallel', '8 files: curl x8, then sync', '(informative)');
  report('8 files: plugin-grid root://', '8 files: xrdcp', '(informative)');
  report('1 file: plugin-grid', '1 file: curl', 'target >= 0.6');
  console.log(`load average after: ${load()}`);
} finally {
  await nginx.stop();
  await xrootd.stop();
  rmSync(root, { recursive: true, force: true });
}
