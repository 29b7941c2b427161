/**
 * Where one download's CPU goes: runs plugin-grid (eight 256 MiB files with adler32, as `run.ts`) in
 * this process and prints wall time and CPU-seconds per thread (from /proc/self/task), and eight curls'
 * CPU (`times` of a shell), after the same preparation as the benchmark. Linux only.
 * Env: PROFILE_DATA=dir keeps the source files between invocations, PROFILE_RUNS=n, PROFILE_TOOL=grid|curl|both.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom } from 'rxjs';
import { adler32Update, ADLER32_INIT, formatAdler32 } from '../src/checksums/adler32.js';
import { download } from '../src/download/downloader.js';
import { toGridFile } from '../src/model/grid-file.js';
import { startNginx } from '../test/support/nginx.js';
import { tempDir } from '../test/support/fixtures.js';

const MiB = 1024 * 1024;
const SIZE = Number(process.env.PROFILE_MIB ?? 256) * MiB;
const runs = Number(process.env.PROFILE_RUNS ?? 3);
const tool = process.env.PROFILE_TOOL ?? 'both';
const root = process.env.PROFILE_DATA ?? tempDir('profile');
const data = join(root, 'data');
mkdirSync(data, { recursive: true });
const names = Array.from({ length: 8 }, (_, i) => `f${i}.bin`);
for (const n of names)
  if (!existsSync(join(data, n)))
    execFileSync('sh', [
      '-c',
      `head -c ${SIZE} /dev/urandom > ${join(data, n)} && chmod 644 ${join(data, n)}`,
    ]);
chmodTree(root);
const adlers = new Map<string, string>();
for (const n of names) {
  let a = ADLER32_INIT;
  for await (const c of createReadStream(join(data, n), { highWaterMark: 4 * MiB }))
    a = adler32Update(a, c as Buffer);
  adlers.set(n, formatAdler32(a));
}
function chmodTree(dir: string): void {
  execFileSync('chmod', ['-R', 'a+rX', dir]);
}

const nginx = await startNginx({ dir: join(root, 'nginx'), dataDir: data });
const url = (n: string) => `http://127.0.0.1:${nginx.ports.replicas[0]}/${n}`;
const out = join(root, 'out');

async function prepare(): Promise<void> {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  execFileSync('sync');
  for (const n of names)
    for await (const _ of createReadStream(join(data, n), { highWaterMark: 4 * MiB })) void _;
}

/** utime+stime (s) per thread name. */
function threadCpu(): Map<string, number> {
  const tick = 100;
  const m = new Map<string, number>();
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const s = readFileSync(`/proc/self/task/${t}/stat`, 'latin1');
      const comm = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      const cpu = (Number(f[11]) + Number(f[12])) / tick;
      const key = `${comm}#${t}`;
      m.set(key, cpu);
    } catch {
      /* exited */
    }
  }
  return m;
}

/** CPU per thread: the main thread, threads started during the run (the hash worker), the others by tid. */
function group(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const g: Record<string, number> = {};
  for (const [k, v] of after) {
    const [name, tid] = k.split('#') as [string, string];
    const label = Number(tid) === process.pid ? 'main' : before.has(k) ? `${name}:${tid}` : `new:${tid}`;
    g[label] = v - (before.get(k) ?? 0);
  }
  return g;
}

const GB = (8 * SIZE) / 1e9;
try {
  for (let r = 0; r < runs; r++) {
    if (tool !== 'curl') {
      await prepare();
      const b = threadCpu();
      // Threads that end with the job (the hash worker) are only seen while it runs: sample.
      const seen = new Map(b);
      const sampler = setInterval(() => {
        for (const [k, v] of threadCpu()) seen.set(k, v);
      }, 100);
      const t0 = performance.now();
      await lastValueFrom(
        download(
          names.map((n) => toGridFile({ url: url(n), size: SIZE, adler32: adlers.get(n)! })),
          { dest: out, parallel: 8, perHost: 8, credentials: { bearerToken: false } },
        ),
        { defaultValue: undefined },
      );
      const wall = (performance.now() - t0) / 1000;
      clearInterval(sampler);
      for (const [k, v] of threadCpu()) seen.set(k, v);
      const g = group(b, seen);
      const total = Object.values(g).reduce((a, x) => a + x, 0);
      console.log(
        `grid: ${wall.toFixed(2)} s, ${((8 * SIZE) / wall / 1e6).toFixed(0)} MB/s, CPU ${(total / GB).toFixed(2)} s/GB: ` +
          Object.entries(g)
            .filter(([, v]) => v > 0.005)
            .map(([k, v]) => `${k} ${(v / GB).toFixed(2)}`)
            .join(', '),
      );
    }
    if (tool !== 'grid') {
      await prepare();
      const t0 = performance.now();
      const outp = execFileSync('bash', [
        '-c',
        `${names.map((n) => `curl -sSf -o ${join(out, n)} ${url(n)} &`).join(' ')} wait; times`,
      ]).toString();
      const wall = (performance.now() - t0) / 1000;
      const lines = outp.trim().split('\n');
      const child = lines[lines.length - 1]!.split(/\s+/).map((x) => {
        const m = /(\d+)m([\d.]+)s/.exec(x);
        return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
      });
      console.log(
        `curl x8: ${wall.toFixed(2)} s, ${((8 * SIZE) / wall / 1e6).toFixed(0)} MB/s, CPU ${((child[0]! + child[1]!) / GB).toFixed(2)} s/GB (user ${(child[0]! / GB).toFixed(2)}, sys ${(child[1]! / GB).toFixed(2)})`,
      );
    }
  }
} finally {
  await nginx.stop();
  if (!process.env.PROFILE_DATA) rmSync(root, { recursive: true, force: true });
}
