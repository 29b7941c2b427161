import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { InferenceGrpcClient } from '../src/index.js';
import { MLP_SIZES, SMALL_MLP_SIZES, writeRepository } from './models.js';

// A perf_analyzer-like harness (concurrency mode: N requests outstanding on keep-alive connections,
// measurement windows until the last three agree within 10 %, p50/p90/p99 and throughput), run against
// in-process onnxruntime-node (the floor), a minimal node:http V2 server and a minimal grpc-js server
// around one session (the overhead references) and the plugin's server, interleaved over rounds;
// medians reported.

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 1500);
/** Only the scenarios whose name matches this regular expression (all by default). */
const ONLY = new RegExp(process.env.BENCH_ONLY ?? '');
const RELOADS = Number(process.env.BENCH_RELOADS ?? 100);
/** A folder for CPU profiles of the plugin's server process (`node --cpu-prof`), written when it stops. */
const PROFILE = process.env.BENCH_PROFILE;
/** BENCH_SOURCE=1 runs the plugin from its sources through tsx instead of the built package. */
const FROM_SOURCE = process.env.BENCH_SOURCE === '1';

if (!FROM_SOURCE) {
  console.log('building the package (and @beamline/core) ...');
  execFileSync(
    'npx',
    ['turbo', 'run', 'build', '--filter=@beamline/plugin-inference...', '--output-logs=errors-only'],
    { stdio: 'inherit', env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' } },
  );
}

interface Measurement {
  requestsPerSecond: number;
  inferencesPerSecond: number;
  p50: number;
  p90: number;
  p99: number;
}

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Runs `concurrency` loops of `send` in windows until three agree within 10 % (at most 8 windows). */
async function measure(concurrency: number, batch: number, send: () => Promise<void>): Promise<Measurement> {
  for (let i = 0; i < concurrency * 20; i += 1) await send(); // warm-up
  const windows: { rate: number; latencies: number[] }[] = [];
  for (let w = 0; w < 8; w += 1) {
    const latencies: number[] = [];
    const end = performance.now() + WINDOW_MS;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          const t0 = performance.now();
          await send();
          latencies.push((performance.now() - t0) * 1000);
        }
      }),
    );
    windows.push({ rate: latencies.length / ((performance.now() - start) / 1000), latencies });
    if (windows.length >= 3) {
      const last = windows.slice(-3).map((x) => x.rate);
      if (Math.max(...last) / Math.min(...last) <= 1.1) break;
    }
  }
  const stable = windows.slice(-3);
  const latencies = stable.flatMap((x) => x.latencies).sort((a, b) => a - b);
  const rate = stable.reduce((sum, x) => sum + x.rate, 0) / stable.length;
  return {
    requestsPerSecond: rate,
    inferencesPerSecond: rate * batch,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
  };
}

function post(
  agent: Agent,
  port: number,
  path: string,
  chunks: Buffer[],
  headers: Record<string, string | number>,
): Promise<Buffer> {
  const length = chunks.reduce((sum, c) => sum + c.length, 0);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path,
        agent,
        headers: { ...headers, 'Content-Length': length },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(Buffer.concat(parts))
            : reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(parts).toString().slice(0, 200)}`)),
        );
      },
    );
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

/** An infer request body: binary (JSON head + raw FP32) or JSON. */
function body(
  name: string,
  shape: number[],
  data: Float32Array,
  binary: boolean,
): { chunks: Buffer[]; headers: Record<string, string | number> } {
  if (!binary) {
    return {
      chunks: [
        Buffer.from(JSON.stringify({ inputs: [{ name, datatype: 'FP32', shape, data: Array.from(data) }] })),
      ],
      headers: { 'Content-Type': 'application/json' },
    };
  }
  const head = Buffer.from(
    JSON.stringify({
      parameters: { binary_data_output: true },
      inputs: [{ name, datatype: 'FP32', shape, parameters: { binary_data_size: data.byteLength } }],
    }),
  );
  return {
    chunks: [head, Buffer.from(data.buffer, data.byteOffset, data.byteLength)],
    headers: { 'Inference-Header-Content-Length': head.length, 'Content-Type': 'application/octet-stream' },
  };
}

async function start(
  script: string,
  args: string[],
  nodeArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; line: string[] }> {
  const child = spawn(
    process.execPath,
    [...nodeArgs, '--conditions=source', '--import', 'tsx', join(import.meta.dirname, script), ...args],
    {
      env: {
        ...process.env,
        ...env,
        TSX_TSCONFIG_PATH: join(import.meta.dirname, '..', 'tsconfig.scripts.json'),
        PLUGIN_ENTRY: FROM_SOURCE ? '' : join(import.meta.dirname, '..', 'dist', 'index.js'),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const line = await new Promise<string[]>((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /READY (.*)\n/.exec(text);
      if (match) resolve(match[1]!.split(' '));
    });
    child.once('exit', (code) => reject(new Error(`${script} exited (${code})`)));
  });
  return { child, line };
}

/** SIGTERM, then SIGKILL after 10 s; resolves when the process has exited. */
function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => resolve(clearTimeout(timer)));
    child.kill('SIGTERM');
  });
}

async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) * 1024;
}

const dir = await mkdtemp(join(tmpdir(), 'inference-bench-'));
await writeRepository(dir);
const load0 = loadavg()[0]!;
const plugin = await start(
  'plugin-server.ts',
  [dir, '1'],
  PROFILE === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`],
);
const minimalIdentity = await start('minimal-server.ts', [join(dir, 'identity', '1', 'model.onnx'), '1']);
const minimalMlp = await start('minimal-server.ts', [join(dir, 'mlp_plain', '1', 'model.onnx'), '1']);
const minimalSmallMlp = await start('minimal-server.ts', [
  join(dir, 'mlp_small_plain', '1', 'model.onnx'),
  '1',
]);
const minimalGrpcServer = await start('minimal-grpc-server.ts', [
  `identity=${join(dir, 'identity', '1', 'model.onnx')}`,
  `mlp=${join(dir, 'mlp_plain', '1', 'model.onnx')}`,
  `mlp_small=${join(dir, 'mlp_small_plain', '1', 'model.onnx')}`,
  '1',
]);
const pluginPort = Number(new URL(plugin.line[0]!).port);
const grpc = new InferenceGrpcClient(plugin.line[1]!);
const minimalGrpc = new InferenceGrpcClient(`127.0.0.1:${minimalGrpcServer.line[0]}`);
const floor = (model: string) =>
  InferenceSession.create(join(dir, model, '1', 'model.onnx'), {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
  });
const [floorSession, floorSmallSession] = [await floor('mlp_plain'), await floor('mlp_small_plain')];

const small = new Float32Array(16).map((_, i) => i);
const mlpRow = new Float32Array(MLP_SIZES[0]!).map((_, i) => Math.sin(i));
const smallMlpRow = new Float32Array(SMALL_MLP_SIZES[0]!).map((_, i) => Math.sin(i));
const big = new Float32Array(4 * 1024 * 1024).map((_, i) => i % 1000); // 16 MiB
const results: Record<string, number[]> = {};
const record = (key: string, value: number) => (results[key] ??= []).push(value);
const latency: Record<string, Measurement> = {};

const scenarios: [string, () => Promise<void>, number, number][] = [];
{
  const agentA = new Agent({ keepAlive: true, maxSockets: 64 });
  const agentB = new Agent({ keepAlive: true, maxSockets: 64 });
  const minimalPort = Number(minimalIdentity.line[0]);
  const mlpPort = Number(minimalMlp.line[0]);
  const smallMlpPort = Number(minimalSmallMlp.line[0]);
  const idBin = body('INPUT', [1, 16], small, true);
  const mlpBin = body('INPUT', [1, mlpRow.length], mlpRow, true);
  const smallMlpBin = body('INPUT', [1, smallMlpRow.length], smallMlpRow, true);
  scenarios.push(
    [
      'c1 identity: minimal server, HTTP binary',
      () =>
        post(agentA, minimalPort, '/v2/models/identity/infer', idBin.chunks, idBin.headers).then(
          () => undefined,
        ),
      1,
      1,
    ],
    [
      'c1 identity: plugin, HTTP binary',
      () =>
        post(agentB, pluginPort, '/v2/models/identity/infer', idBin.chunks, idBin.headers).then(
          () => undefined,
        ),
      1,
      1,
    ],
    [
      'c1 identity: minimal gRPC server',
      () =>
        minimalGrpc
          .infer('identity', [{ name: 'INPUT', datatype: 'FP32', shape: [1, 16], data: small }])
          .then(() => undefined),
      1,
      1,
    ],
    [
      'c1 identity: plugin, gRPC',
      () =>
        grpc
          .infer('identity', [{ name: 'INPUT', datatype: 'FP32', shape: [1, 16], data: small }])
          .then(() => undefined),
      1,
      1,
    ],
    [
      'c1 identity: plugin, session in the main thread, HTTP binary',
      () =>
        post(agentB, pluginPort, '/v2/models/identity_main/infer', idBin.chunks, idBin.headers).then(
          () => undefined,
        ),
      1,
      1,
    ],
    [
      'c1 identity: plugin, session in the main thread, gRPC',
      () =>
        grpc
          .infer('identity_main', [{ name: 'INPUT', datatype: 'FP32', shape: [1, 16], data: small }])
          .then(() => undefined),
      1,
      1,
    ],
    [
      'c1 mlp: in-process onnxruntime (floor)',
      () =>
        floorSession.run({ INPUT: new Tensor('float32', mlpRow, [1, mlpRow.length]) }).then(() => undefined),
      1,
      1,
    ],
    [
      'c1 small mlp: in-process onnxruntime (floor)',
      () =>
        floorSmallSession
          .run({ INPUT: new Tensor('float32', smallMlpRow, [1, smallMlpRow.length]) })
          .then(() => undefined),
      1,
      1,
    ],
    [
      'c16 mlp: minimal server, HTTP binary',
      () =>
        post(agentA, mlpPort, '/v2/models/mlp/infer', mlpBin.chunks, mlpBin.headers).then(() => undefined),
      16,
      1,
    ],
    [
      'c16 mlp: plugin with dynamic batching, HTTP binary',
      () =>
        post(agentB, pluginPort, '/v2/models/mlp/infer', mlpBin.chunks, mlpBin.headers).then(() => undefined),
      16,
      1,
    ],
    [
      'c16 mlp: minimal gRPC server',
      () =>
        minimalGrpc
          .infer('mlp', [{ name: 'INPUT', datatype: 'FP32', shape: [1, mlpRow.length], data: mlpRow }])
          .then(() => undefined),
      16,
      1,
    ],
    [
      'c16 mlp: plugin with dynamic batching, gRPC',
      () =>
        grpc
          .infer('mlp', [{ name: 'INPUT', datatype: 'FP32', shape: [1, mlpRow.length], data: mlpRow }])
          .then(() => undefined),
      16,
      1,
    ],
    [
      'c16 small mlp: minimal server, HTTP binary',
      () =>
        post(
          agentA,
          smallMlpPort,
          '/v2/models/mlp_small/infer',
          smallMlpBin.chunks,
          smallMlpBin.headers,
        ).then(() => undefined),
      16,
      1,
    ],
    [
      'c16 small mlp: plugin with dynamic batching, HTTP binary',
      () =>
        post(agentB, pluginPort, '/v2/models/mlp_small/infer', smallMlpBin.chunks, smallMlpBin.headers).then(
          () => undefined,
        ),
      16,
      1,
    ],
    [
      'c16 small mlp: minimal gRPC server',
      () =>
        minimalGrpc
          .infer('mlp_small', [
            { name: 'INPUT', datatype: 'FP32', shape: [1, smallMlpRow.length], data: smallMlpRow },
          ])
          .then(() => undefined),
      16,
      1,
    ],
    [
      'c16 small mlp: plugin with dynamic batching, gRPC',
      () =>
        grpc
          .infer('mlp_small', [
            { name: 'INPUT', datatype: 'FP32', shape: [1, smallMlpRow.length], data: smallMlpRow },
          ])
          .then(() => undefined),
      16,
      1,
    ],
  );
  const bigBin = body('INPUT', [1, big.length], big, true);
  const bigJson = body('INPUT', [1, big.length], big, false);
  scenarios.push(
    [
      '16 MiB identity: plugin, HTTP binary',
      () =>
        post(agentB, pluginPort, '/v2/models/identity/infer', bigBin.chunks, bigBin.headers).then(
          () => undefined,
        ),
      1,
      1,
    ],
    [
      '16 MiB identity: plugin, HTTP JSON',
      () =>
        post(agentB, pluginPort, '/v2/models/identity/infer', bigJson.chunks, bigJson.headers).then(
          () => undefined,
        ),
      1,
      1,
    ],
  );
}

for (let round = 0; round < ROUNDS; round += 1) {
  for (const [name, send, concurrency, batch] of scenarios) {
    if (!ONLY.test(name)) continue;
    const m = await measure(concurrency, batch, send);
    record(name, m.requestsPerSecond);
    latency[name] = m;
    console.log(
      `round ${round + 1} ${name}: ${m.requestsPerSecond.toFixed(0)} req/s, p50 ${m.p50.toFixed(0)} µs, p90 ${m.p90.toFixed(0)} µs, p99 ${m.p99.toFixed(0)} µs`,
    );
  }
}

// Memory over 100 reloads of the 25 MB MLP (explicit mode; each reload starts a new worker), in a server
// of its own for each allocator setting: glibc's defaults, and the fixed mmap threshold the README
// recommends (glibc raises its threshold after each large free, so the next model's weights land in
// per-thread arenas that keep the pages).
async function reloadRss(
  env: Record<string, string>,
): Promise<{ before: number; after10: number; after: number }> {
  const server = await start('plugin-server.ts', [dir, '1'], [], env);
  const port = Number(new URL(server.line[0]!).port);
  const agent = new Agent({ keepAlive: true });
  const before = await rss(server.child.pid!);
  let after10 = Number.NaN;
  for (let i = 0; i < RELOADS; i += 1) {
    await post(agent, port, '/v2/repository/models/mlp_plain/load', [Buffer.from('{}')], {
      'Content-Type': 'application/json',
    });
    if (i === 9) after10 = await rss(server.child.pid!);
  }
  const after = await rss(server.child.pid!);
  agent.destroy();
  await stop(server.child);
  const mib = (bytes: number) => bytes / 2 ** 20;
  return { before: mib(before), after10: mib(after10), after: mib(after) };
}
const reloadDefault = await reloadRss({});
const reloadTuned = await reloadRss({ MALLOC_MMAP_THRESHOLD_: '1048576' });

const summary = {
  when: new Date().toISOString(),
  load: [load0, loadavg()[0]],
  rounds: ROUNDS,
  medians: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)])),
  /** Requests per second of each scenario, round by round. */
  perRound: results,
  latencyLastRound: latency,
  reloads: { count: RELOADS, glibcDefaultsMiB: reloadDefault, mmapThreshold1MiBMiB: reloadTuned },
};
const m = summary.medians;
const ratios = {
  'c1 HTTP: plugin / minimal (target ≥ 0.9)':
    m['c1 identity: plugin, HTTP binary']! / m['c1 identity: minimal server, HTTP binary']!,
  'c1 gRPC: plugin / minimal gRPC (target ≥ 0.9)':
    m['c1 identity: plugin, gRPC']! / m['c1 identity: minimal gRPC server']!,
  'c1 gRPC: plugin / minimal HTTP':
    m['c1 identity: plugin, gRPC']! / m['c1 identity: minimal server, HTTP binary']!,
  'c1 HTTP, session in the main thread: plugin / minimal (target ≥ 0.9)':
    m['c1 identity: plugin, session in the main thread, HTTP binary']! /
    m['c1 identity: minimal server, HTTP binary']!,
  'c1 gRPC, session in the main thread: plugin / minimal gRPC (target ≥ 0.9)':
    m['c1 identity: plugin, session in the main thread, gRPC']! / m['c1 identity: minimal gRPC server']!,
  'c16 mlp HTTP: plugin batched / minimal (target ≥ 2)':
    m['c16 mlp: plugin with dynamic batching, HTTP binary']! / m['c16 mlp: minimal server, HTTP binary']!,
  'c16 mlp gRPC: plugin batched / minimal gRPC (target ≥ 2)':
    m['c16 mlp: plugin with dynamic batching, gRPC']! / m['c16 mlp: minimal gRPC server']!,
  'c16 small mlp HTTP: plugin batched / minimal':
    m['c16 small mlp: plugin with dynamic batching, HTTP binary']! /
    m['c16 small mlp: minimal server, HTTP binary']!,
  'c16 small mlp gRPC: plugin batched / minimal gRPC':
    m['c16 small mlp: plugin with dynamic batching, gRPC']! / m['c16 small mlp: minimal gRPC server']!,
  '16 MiB: binary / JSON (target ≥ 3)':
    m['16 MiB identity: plugin, HTTP binary']! / m['16 MiB identity: plugin, HTTP JSON']!,
  [`RSS growth 10 → ${RELOADS} reloads, glibc defaults, MiB`]: reloadDefault.after - reloadDefault.after10,
  [`RSS growth 10 → ${RELOADS} reloads, MALLOC_MMAP_THRESHOLD_=1048576, MiB`]:
    reloadTuned.after - reloadTuned.after10,
};
console.log(JSON.stringify({ ...summary, ratios }, null, 2));
// A partial run (BENCH_ONLY) prints its figures but keeps the last full run's file.
if (process.env.BENCH_ONLY === undefined) {
  await mkdir(join(import.meta.dirname, '..', 'bench-results'), { recursive: true });
  await writeFile(
    join(import.meta.dirname, '..', 'bench-results', 'inference.json'),
    `${JSON.stringify({ ...summary, ratios }, null, 2)}\n`,
  );
}
grpc.close();
minimalGrpc.close();
const children = [plugin, minimalIdentity, minimalMlp, minimalSmallMlp, minimalGrpcServer].map(
  ({ child }) => child,
);
await Promise.all(children.map(stop));
await rm(dir, { recursive: true, force: true });
