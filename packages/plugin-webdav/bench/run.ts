/**
 * plugin-webdav side by side with Apache mod_dav (Debian apache2) and nginx (dav + dav-ext), all three
 * on loopback serving the same folder, driven by the same client tools, interleaved over rounds:
 * - PROPFIND Depth 1 on a folder of 10,000 files (curl; the plugin's RSS sampled during it);
 * - the last 10 bytes of a 2 GiB file (curl, `Range: bytes=2147483638-2147483647`; each round the median
 *   of BENCH_RANGE_REQUESTS requests, default 21, each a fresh curl on a fresh connection);
 * - GET of 1 GiB (curl to /dev/null) and PUT of 1 GiB (curl -T, with a login; each upload removed
 *   afterwards, `sync` before the next);
 * - 200 concurrent GETs of a 4 KiB file for BENCH_WRK_SECONDS (default 10) with wrk (2 threads).
 * Each round runs every server on every case once, the server order rotating from round to round;
 * figures are medians over BENCH_RUNS rounds (default 5). The plugin runs in a process of its own
 * (the built package under plain node, see startPlugin) so its memory and CPU are its own.
 * The plugin runs twice: `plugin` (one process) and `cluster` (ShareCluster, BENCH_WORKERS worker
 * processes, default the machine's cores; its RSS is the whole process tree's).
 * Env: BENCH_RUNS=n, BENCH_SMALL=1 (1,000 files, 256 MiB, 3 s of wrk: a quick check),
 * BENCH_CASES=propfind,range,get,put,concurrent (default all; `concurrent` alone is the 200-GET case,
 * a couple of minutes), BENCH_ONLY=substring of a case name,
 * BENCH_SERVERS=plugin,cluster,apache,nginx (default all four), BENCH_WORKERS=n,
 * BENCH_PROFILE=1 (the plugin runs under `node --cpu-prof`; the profile's top functions are printed),
 * BENCH_SOURCE=1 (run the plugin from its TypeScript sources instead of the built package).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startApache, type ApachePeer } from '../test/support/peers/apache.js';
import { tempDir } from '../test/support/peers/folders.js';
import { startNginx, type NginxPeer } from '../test/support/peers/nginx.js';
import { pluginConfig } from '../test/support/peers/plugin-target.js';
import type { ShareSpec } from '../test/support/peers/share-spec.js';
import { rssBytes, treeRssBytes } from '../test/support/peers/tools.js';
import { startShare } from '../test/support/start-share.js';
import { summarizeProfile } from './profile.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const small = process.env.BENCH_SMALL === '1';
const runs = Number(process.env.BENCH_RUNS ?? 5);
const FILES = small ? 1000 : 10_000;
const BIG = small ? 256 * MiB : GiB;
const SPARSE = 2 * GiB;
/** Requests per round of the tail-range case (each on a fresh connection); the round's figure is their median. */
const RANGE_REQUESTS = Number(process.env.BENCH_RANGE_REQUESTS ?? 21);
const WRK_SECONDS = Number(process.env.BENCH_WRK_SECONDS ?? (small ? 3 : 10));
const USER = { name: 'writer', password: 'bench-pa:ss' };
const profile = process.env.BENCH_PROFILE === '1';
const fromSource = process.env.BENCH_SOURCE === '1';

const WORKERS = Number(process.env.BENCH_WORKERS ?? availableParallelism());

type ServerName = 'plugin' | 'cluster' | 'apache' | 'nginx';
const wanted = (process.env.BENCH_SERVERS ?? 'plugin,cluster,apache,nginx')
  .split(',')
  .map((s) => s.trim()) as ServerName[];

interface Server {
  name: ServerName;
  url: string;
  /** The process whose memory is reported (the plugin's server; Apache's and nginx's parents). */
  pid: number;
  /** Report the RSS of the process and its children (the cluster's primary and workers). */
  tree?: boolean;
  stop(): Promise<void>;
}

const root = tempDir('bench');
const data = join(root, 'data');
mkdirSync(join(data, 'many'), { recursive: true });
const spec: ShareSpec = {
  users: { [USER.name]: USER.password },
  mounts: [{ path: '/data', folder: data, read: 'anonymous', write: [USER.name] }],
};

function sh(cmd: string): void {
  execFileSync('sh', ['-c', cmd], { stdio: 'inherit' });
}

if ((wanted.includes('plugin') || wanted.includes('cluster')) && !fromSource) {
  console.log('building the package (and @beamline/core) ...');
  execFileSync(
    'npx',
    ['turbo', 'run', 'build', '--filter=@beamline/plugin-webdav...', '--output-logs=errors-only'],
    {
      stdio: 'inherit',
      env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
    },
  );
}

/** Whether BENCH_CASES selects a case (all when unset). */
const caseKeys = (process.env.BENCH_CASES ?? '')
  .split(',')
  .map((key) => key.trim())
  .filter(Boolean);
const wants = (key: string): boolean => caseKeys.length === 0 || caseKeys.includes(key);
console.log(`preparing ${data}: only what the selected cases read ...`);
if (wants('propfind'))
  for (let i = 0; i < FILES; i++)
    closeSync(openSync(join(data, 'many', `file-${String(i).padStart(5, '0')}.dat`), 'w'));
if (wants('range')) {
  sh(`truncate -s ${SPARSE} ${join(data, 'sparse-2g.bin')}`);
  sh(
    `printf 'tail-bytes' | dd of=${join(data, 'sparse-2g.bin')} bs=1 seek=${SPARSE - 10} conv=notrunc status=none`,
  );
}
if (wants('get') || wants('put')) sh(`head -c ${BIG} /dev/urandom > ${join(data, 'big.bin')}`);
sh(`head -c 4096 /dev/urandom > ${join(data, 'small.bin')}`);
const upload = join(root, 'upload.bin');
if (wants('put')) sh(`cp ${join(data, 'big.bin')} ${upload}`);

/**
 * The plugin's share server as users run it (the built package, plain node, no TypeScript loader):
 * reads the configuration (JSON) from the file named by its argument, listens on a free loopback port,
 * prints `LISTENING <url>`, stops cleanly on SIGTERM.
 */
const SERVE_BUILT = `
import { readFileSync } from 'node:fs';
import { ShareCluster, ShareServer, resolveShareConfig } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, '..', 'dist', 'index.js')).href)};
const config = resolveShareConfig(JSON.parse(readFileSync(process.argv[1], 'utf8')));
const workers = Number(process.argv[2] ?? 1);
const cluster = workers > 1 ? await ShareCluster.start(config, { host: '127.0.0.1', port: 0, workers }) : undefined;
const server = cluster?.server ?? (await ShareServer.open(config));
server.events.on('warning', (w) => process.stderr.write('warning: ' + w.message + '\\n'));
const url = cluster?.url ?? (await server.listen({ host: '127.0.0.1', port: 0 })).url;
process.stdout.write('LISTENING ' + url + '\\n');
const stop = () => { void (cluster ?? server).close(5000).then(() => process.exit(0)); };
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
`;

/**
 * The plugin's server in a process of its own: by default the built package under plain node (what a
 * user runs: `npm run build` first, done here), with BENCH_SOURCE=1 from the sources through
 * test/support/start-share.ts (tsx, which adds about 30 MiB of RSS).
 */
async function startPlugin(name: 'plugin' | 'cluster'): Promise<Server> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const config = await pluginConfig(spec, dir);
  const workers = name === 'cluster' ? WORKERS : 1;
  if (fromSource) {
    if (profile)
      console.warn('BENCH_PROFILE needs the built server (node refuses --cpu-prof in NODE_OPTIONS)');
    const server = await startShare(config, { workers });
    return { name, url: server.url, pid: server.pid, tree: workers > 1, stop: () => server.stop() };
  }
  const configFile = join(dir, 'shares.json');
  writeFileSync(configFile, JSON.stringify(config));
  const profiling = profile ? ['--cpu-prof', `--cpu-prof-dir=${join(root, 'profile')}`] : [];
  const child = spawn(
    process.execPath,
    [...profiling, '--input-type=module', '-e', SERVE_BUILT, configFile, String(workers)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /LISTENING (\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    void exited.then(() => reject(new Error(`the plugin's server exited before listening: ${out}`)));
  });
  return {
    name,
    url: url.replace(/\/+$/, ''),
    pid: child.pid!,
    tree: workers > 1,
    stop: async () => {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

async function startServers(): Promise<Server[]> {
  const servers: Server[] = [];
  if (wanted.includes('apache')) {
    const a: ApachePeer = await startApache(spec, { dir: join(root, 'apache') });
    servers.push({ name: 'apache', url: a.url, pid: a.pid, stop: () => a.stop() });
  }
  if (wanted.includes('nginx')) {
    const n: NginxPeer = await startNginx(spec, { dir: join(root, 'nginx') });
    servers.push({ name: 'nginx', url: n.url, pid: n.pid, stop: () => n.stop() });
  }
  if (wanted.includes('cluster')) servers.unshift(await startPlugin('cluster'));
  if (wanted.includes('plugin')) servers.unshift(await startPlugin('plugin'));
  return servers;
}

/** Samples a server's RSS every 10 ms while `fn` runs; returns fn's result and the peak. */
async function withRss<T>(server: Server, fn: () => Promise<T> | T): Promise<{ result: T; peak: number }> {
  const rss = (): number => (server.tree ? treeRssBytes(server.pid) : rssBytes(server.pid)) ?? 0;
  let peak = rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, rss());
  }, 10);
  try {
    const result = await new Promise<T>((resolve, reject) => {
      // Let the sampler run while a synchronous tool blocks: run it on the next turn.
      setImmediate(() => {
        Promise.resolve().then(fn).then(resolve, reject);
      });
    });
    peak = Math.max(peak, rss());
    return { result, peak };
  } finally {
    clearInterval(timer);
  }
}

function runAsync(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${out}`)),
    );
  });
}

function asyncCurl(args: string[]): Promise<{ code: number; seconds: number; down: number; up: number }> {
  return runAsync('curl', [
    '-sS',
    '-w',
    '\n%{http_code} %{time_total} %{size_download} %{size_upload}',
    ...args,
  ]).then((out) => {
    const [code, seconds, down, up] = out.trim().split('\n').at(-1)!.split(/\s+/).map(Number) as [
      number,
      number,
      number,
      number,
    ];
    return { code, seconds, down, up };
  });
}

interface Sample {
  value: number;
  rss?: number;
}
interface Case {
  /** What BENCH_CASES names it by. */
  key: string;
  name: string;
  unit: string;
  /** Higher is better (throughput) or lower is better (seconds). */
  higherIsBetter: boolean;
  /** The plugin/apache ratio the issue asks for, phrased for the report. */
  target?: { ratio: number; text: string };
  measure(s: Server, round: number): Promise<Sample>;
  samples: Map<ServerName, Sample[]>;
}

function expectStatus(what: string, s: Server, code: number, ok: number[]): void {
  if (!ok.includes(code)) throw new Error(`${what} on ${s.name}: HTTP ${code}, expected ${ok.join('/')}`);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const auth = ['-u', `${USER.name}:${USER.password}`];
const allCases: Case[] = [
  {
    key: 'propfind',
    name: `PROPFIND Depth 1, ${FILES.toLocaleString('en')} files`,
    unit: 's',
    higherIsBetter: false,
    target: { ratio: 1, text: 'at least as fast as Apache' },
    async measure(s) {
      const out = join(root, `propfind-${s.name}.xml`);
      const { result, peak } = await withRss(s, () =>
        asyncCurl(['-o', out, '-X', 'PROPFIND', '-H', 'Depth: 1', `${s.url}/data/many/`]),
      );
      expectStatus('PROPFIND', s, result.code, [207]);
      const responses = (readFileSync(out, 'utf8').match(/<(?:[A-Za-z0-9]+:)?response[\s>]/g) ?? []).length;
      if (responses !== FILES + 1)
        throw new Error(`PROPFIND on ${s.name}: ${responses} responses, expected ${FILES + 1}`);
      rmSync(out);
      return { value: result.seconds, rss: peak };
    },
    samples: new Map(),
  },
  {
    key: 'range',
    name: 'Range: last 10 bytes of 2 GiB',
    unit: 'ms',
    higherIsBetter: false,
    target: { ratio: 0.5, text: 'within 2x Apache' },
    async measure(s) {
      // One request of about a millisecond is mostly scheduling noise: each round takes the median of
      // RANGE_REQUESTS requests, each from a fresh curl on a fresh connection, for every server alike.
      const out = join(root, `range-${s.name}.bin`);
      const times: number[] = [];
      for (let i = 0; i < RANGE_REQUESTS; i++) {
        const r = await asyncCurl([
          '-o',
          out,
          '-r',
          `${SPARSE - 10}-${SPARSE - 1}`,
          `${s.url}/data/sparse-2g.bin`,
        ]);
        expectStatus('range GET', s, r.code, [206]);
        const got = readFileSync(out, 'latin1');
        if (got !== 'tail-bytes') throw new Error(`range GET on ${s.name}: got ${JSON.stringify(got)}`);
        times.push(r.seconds * 1000);
      }
      return { value: median(times) };
    },
    samples: new Map(),
  },
  {
    key: 'get',
    name: `GET ${BIG / MiB} MiB`,
    unit: 'MB/s',
    higherIsBetter: true,
    target: { ratio: 0.8, text: '>= 0.8x Apache' },
    async measure(s) {
      const { result: r, peak } = await withRss(s, () =>
        asyncCurl(['-o', '/dev/null', `${s.url}/data/big.bin`]),
      );
      expectStatus('GET', s, r.code, [200]);
      if (r.down !== BIG) throw new Error(`GET on ${s.name}: ${r.down} bytes`);
      return { value: BIG / r.seconds / 1e6, rss: peak };
    },
    samples: new Map(),
  },
  {
    key: 'put',
    name: `PUT ${BIG / MiB} MiB`,
    unit: 'MB/s',
    higherIsBetter: true,
    target: { ratio: 0.8, text: '>= 0.8x Apache' },
    async measure(s, round) {
      const name = `put-${s.name}-${round}.bin`;
      execFileSync('sync');
      const { result: r, peak } = await withRss(s, () =>
        asyncCurl([...auth, '-o', '/dev/null', '-T', upload, `${s.url}/data/${name}`]),
      );
      expectStatus('PUT', s, r.code, [201, 204]);
      if (r.up !== BIG) throw new Error(`PUT on ${s.name}: ${r.up} bytes sent`);
      rmSync(join(data, name), { force: true });
      return { value: BIG / r.seconds / 1e6, rss: peak };
    },
    samples: new Map(),
  },
  {
    key: 'concurrent',
    name: '200 concurrent GETs of 4 KiB (wrk)',
    unit: 'req/s',
    higherIsBetter: true,
    target: { ratio: 0.8, text: '>= 0.8x Apache' },
    async measure(s) {
      const { result: out, peak } = await withRss(s, () =>
        runAsync('wrk', ['-t2', '-c200', `-d${WRK_SECONDS}s`, `${s.url}/data/small.bin`]),
      );
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
      const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
      const errors = /Socket errors:([^\n]*)/.exec(out)?.[1];
      if (!Number.isFinite(rps) || non2xx > 0) throw new Error(`wrk on ${s.name}: ${out}`);
      if (errors && /timeout [1-9]|read [1-9]|connect [1-9]/.test(errors))
        console.warn(`  wrk on ${s.name}: socket errors ${errors}`);
      return { value: rps, rss: peak };
    },
    samples: new Map(),
  },
];
for (const key of caseKeys)
  if (!allCases.some((c) => c.key === key))
    throw new Error(`BENCH_CASES: unknown case ${key} (expected ${allCases.map((c) => c.key).join(', ')})`);
const cases = allCases.filter(
  (c) => c.name.includes(process.env.BENCH_ONLY ?? '') && (caseKeys.length === 0 || caseKeys.includes(c.key)),
);

const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const fmt = (c: Case, v: number) =>
  c.unit === 's' ? v.toFixed(3) : c.unit === 'ms' ? v.toFixed(2) : v.toFixed(0);
const mb = (b: number) => `${(b / MiB).toFixed(0)} MiB`;

function versions(): string {
  const first = (cmd: string, args: string[], re: RegExp) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return re.exec(`${r.stdout}${r.stderr}`)?.[1] ?? '?';
  };
  return [
    `Apache ${first('/usr/sbin/apache2', ['-v'], /Apache\/(\S+)/)}`,
    `nginx ${first('nginx', ['-v'], /nginx\/(\S+)/)}`,
    `curl ${first('curl', ['--version'], /curl (\S+)/)}`,
    `wrk ${first('wrk', ['-v'], /wrk (\S+)/)}`,
    `node ${process.version}`,
  ].join(', ');
}

const servers = await startServers();
try {
  console.log(
    `\nmachine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / GiB)} GiB RAM; ${versions()}`,
  );
  console.log(`servers: ${servers.map((s) => `${s.name} ${s.url}`).join(', ')}`);
  console.log(`load average before: ${load()}; ${runs} rounds, servers interleaved within each round`);
  const idleRss = servers.map((s) => `${s.name} ${mb(treeRssBytes(s.pid) ?? 0)}`).join(', ');
  console.log(`RSS at start (process tree): ${idleRss}`);
  // Warm-up, not measured: every server serves what the selected cases read once (page cache, lazy
  // initialisation).
  const selected = (prefix: string) => cases.some((c) => c.name.startsWith(prefix));
  for (const s of servers) {
    if (selected('GET') || selected('PUT')) await asyncCurl(['-o', '/dev/null', `${s.url}/data/big.bin`]);
    if (selected('PROPFIND'))
      await asyncCurl(['-o', '/dev/null', '-X', 'PROPFIND', '-H', 'Depth: 1', `${s.url}/data/many/`]);
    // One second of the 200 connections: every worker process of the cluster compiles its hot path.
    if (selected('200')) await runAsync('wrk', ['-t2', '-c200', '-d1s', `${s.url}/data/small.bin`]);
  }
  for (let round = 0; round < runs; round++) {
    for (const c of cases) {
      for (let i = 0; i < servers.length; i++) {
        const s = servers[(i + round) % servers.length]!;
        const sample = await c.measure(s, round);
        const list = c.samples.get(s.name) ?? [];
        list.push(sample);
        c.samples.set(s.name, list);
      }
    }
    console.log(`round ${round + 1}/${runs} done (load ${load()})`);
  }

  console.log('');
  for (const c of cases) {
    console.log(`${c.name} (${c.unit}, median of ${runs}):`);
    for (const s of servers) {
      const xs = (c.samples.get(s.name) ?? []).map((x) => x.value);
      const peaks = (c.samples.get(s.name) ?? []).map((x) => x.rss ?? 0);
      const rss = Math.max(...peaks);
      console.log(
        `  ${s.name.padEnd(7)} ${fmt(c, median(xs)).padStart(9)}   runs ${xs.map((x) => fmt(c, x)).join(', ')}` +
          ((s.name === 'plugin' || s.name === 'cluster') && rss > 0
            ? `   peak RSS ${mb(rss)} (rounds ${peaks.map((x) => (x / MiB).toFixed(0)).join(', ')})`
            : ''),
      );
    }
    const a = c.samples.get('apache');
    for (const mode of ['plugin', 'cluster'] as const) {
      const p = c.samples.get(mode);
      if (!p || !a || !c.target) continue;
      const pm = median(p.map((x) => x.value));
      const am = median(a.map((x) => x.value));
      // "speed ratio": > 1 means the plugin is faster than Apache.
      const speed = c.higherIsBetter ? pm / am : am / pm;
      const perRound = p.map((x, i) => (c.higherIsBetter ? x.value / a[i]!.value : a[i]!.value / x.value));
      const met = speed >= c.target.ratio;
      const label = mode === 'cluster' ? `cluster (${WORKERS} workers)` : 'plugin';
      console.log(
        `  ${label} vs Apache: ${speed.toFixed(2)}x the speed (per-round median ${median(perRound).toFixed(2)}); target ${c.target.text}: ${met ? 'met' : 'MISSED'}`,
      );
    }
  }
  const pluginServer = servers.find((s) => s.name === 'plugin');
  if (pluginServer) {
    const propfind = cases.find((c) => c.name.startsWith('PROPFIND'))?.samples.get('plugin');
    if (propfind) {
      const peak = Math.max(...propfind.map((x) => x.rss ?? 0));
      console.log(
        `\nplugin RSS during PROPFIND: peak ${mb(peak)} (target < 150 MB: ${peak < 150e6 ? 'met' : 'MISSED'})`,
      );
    }
    console.log(`plugin RSS at the end: ${mb(rssBytes(pluginServer.pid) ?? 0)}`);
  }
  console.log(`load average after: ${load()}`);
} finally {
  for (const s of servers) await s.stop();
  if (profile) {
    const dir = join(root, 'profile');
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile'))) {
      console.log(`\nCPU profile of the plugin's server (${f}), top functions by self time:`);
      console.log(summarizeProfile(join(dir, f), 25));
    }
  }
  rmSync(root, { recursive: true, force: true });
}
