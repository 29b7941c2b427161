/**
 * Throughput against nginx on loopback, with curl and aria2c on the same files in the same run:
 * - eight 256 MiB files, 8 in parallel: plugin-grid with adler32 verification vs `curl` x8 (no
 *   verification) and `aria2c -j8 -x1 --checksum=adler32=…`;
 * - one 1 GiB file: plugin-grid with adler32 vs curl.
 * Median of BENCH_RUNS (default 3). Files live in a temp dir that is removed at the end.
 * Env: BENCH_SMALL=1 shrinks the files (quick check), BENCH_RUNS=n.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdirSync, rmSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom } from 'rxjs';
import { adler32Update, ADLER32_INIT, formatAdler32 } from '../src/checksums/adler32.js';
import { download } from '../src/download/downloader.js';
import { toGridFile } from '../src/model/grid-file.js';
import { startNginx } from '../test/support/nginx.js';
import { tempDir } from '../test/support/fixtures.js';

const MiB = 1024 * 1024;
const small = process.env.BENCH_SMALL === '1';
const runs = Number(process.env.BENCH_RUNS ?? 3);
const EIGHT = small ? 32 * MiB : 256 * MiB;
const ONE = small ? 128 * MiB : 1024 * MiB;

const root = tempDir('bench');
const data = join(root, 'data');
mkdirSync(data);

function makeFile(name: string, size: number): void {
  // Random data without holding it in memory: head from /dev/urandom.
  execFileSync('sh', ['-c', `head -c ${size} /dev/urandom > ${join(data, name)} && chmod 644 ${join(data, name)}`]);
}

async function fileAdler(path: string): Promise<string> {
  let a = ADLER32_INIT;
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) a = adler32Update(a, chunk as Buffer);
  return formatAdler32(a);
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${err.slice(-500)}`))));
  });
}

async function timed(fn: () => Promise<void>, before?: () => void): Promise<number> {
  before?.();
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
const port = nginx.ports.replicas[0];
const url = (n: string) => `http://127.0.0.1:${port}/${n}`;
const out = join(root, 'out');
const clean = () => {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
};

const grid = (files: string[], parallel: number) => async () => {
  const list = files.map((n) => toGridFile({ url: url(n), size: n === 'one.bin' ? ONE : EIGHT, adler32: adlers.get(n)! }));
  await lastValueFrom(download(list, { dest: out, parallel, perHost: parallel, credentials: { bearerToken: false } }), { defaultValue: undefined });
};
const curl = (files: string[]) => async () => {
  await Promise.all(files.map((n) => run('curl', ['-sSf', '-o', join(out, n), url(n)])));
};
const aria = (files: string[]) => async () => {
  const input = files.map((n) => `${url(n)}\n  out=${n}\n  checksum=adler32=${adlers.get(n)!}`).join('\n');
  const listFile = join(root, 'aria2.txt');
  execFileSync('sh', ['-c', `cat > ${listFile}`], { input });
  await run('aria2c', ['-q', '-j8', '-x1', '--file-allocation=none', '--allow-overwrite=true', '--auto-file-renaming=false', '-d', out, '-i', listFile]);
};

interface Row {
  name: string;
  bytes: number;
  times: number[];
}
const rows: Row[] = [];
async function measure(name: string, bytes: number, fn: () => Promise<void>): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await timed(fn, clean));
  rows.push({ name, bytes, times });
  const mbs = bytes / median(times) / 1e6;
  console.log(`${name.padEnd(44)} ${mbs.toFixed(0).padStart(6)} MB/s  (runs: ${times.map((t) => t.toFixed(2)).join(', ')} s)`);
}

try {
  console.log(`\nmachine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, node ${process.version}; nginx on loopback`);
  const eightBytes = 8 * EIGHT;
  await measure('8 files: curl x8 (no verification)', eightBytes, curl(names));
  await measure('8 files: aria2c -j8 -x1 + adler32', eightBytes, aria(names));
  await measure('8 files: plugin-grid parallel 8 + adler32', eightBytes, grid(names, 8));
  await measure('1 file: curl (no verification)', ONE, curl(['one.bin']));
  await measure('1 file: plugin-grid + adler32', ONE, grid(['one.bin'], 1));
  const rate = (n: string) => {
    const r = rows.find((x) => x.name.startsWith(n))!;
    return r.bytes / median(r.times);
  };
  console.log('\nratios (median):');
  console.log(`  8 files: plugin-grid / curl   = ${(rate('8 files: plugin-grid') / rate('8 files: curl')).toFixed(2)}  (target >= 0.7)`);
  console.log(`  8 files: plugin-grid / aria2c = ${(rate('8 files: plugin-grid') / rate('8 files: aria2c')).toFixed(2)}  (target > 1)`);
  console.log(`  1 file:  plugin-grid / curl   = ${(rate('1 file: plugin-grid') / rate('1 file: curl')).toFixed(2)}  (target >= 0.6)`);
} finally {
  await nginx.stop();
  rmSync(root, { recursive: true, force: true });
}
