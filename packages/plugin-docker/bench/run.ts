// Benchmarks DockerRunner against the docker CLI in the same script (CONTRIBUTING: ratios against a peer).
//   npm run bench            (in packages/plugin-docker; needs scripts/setup-test-env.sh's engine and image)
import { spawn } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { DockerRunner } from '../src/runner/docker-runner.js';

const IMAGE = process.env.BEAMLINE_TEST_IMAGE ?? 'beamline-test/busybox:1.36';
const N = Number(process.env.BENCH_CONTAINERS ?? 50);
const MB = Number(process.env.BENCH_MB ?? 200);
const PROJECT = 'bl-bench';

function cli(args: string[], stdout: 'ignore' | 'inherit' = 'ignore'): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('docker', args, { stdio: ['ignore', stdout, 'inherit'] });
    p.on('error', reject);
    p.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`docker ${args.join(' ')} exited ${code}`)),
    );
  });
}

async function viaRunner(
  runner: DockerRunner,
  cmd: string[],
  sink: (b: Buffer) => void = () => undefined,
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    runner.exec({ image: IMAGE, argv: cmd }).subscribe({
      next: (e) => {
        if (e.type === 'stdout' || e.type === 'stderr') sink(e.data);
        if (e.type === 'exit' && e.code !== 0) reject(new Error(`exit ${e.code ?? e.signal}`));
      },
      error: reject,
      complete: resolve,
    });
  });
}

async function time(f: () => Promise<void>): Promise<number> {
  const t = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const runner = new DockerRunner({ project: PROJECT, image: IMAGE, pullPolicy: 'never' });
// Warm-up: first container start, client sockets, JIT.
await viaRunner(runner, ['true']);
await cli(['run', '--rm', IMAGE, 'true']);

// Interleaved, alternating which side goes first: the shared host's load then affects both alike.
let rShort = 0;
let cShort = 0;
for (let i = 0; i < N; i++) {
  const runnerFirst = i % 2 === 0;
  if (runnerFirst) rShort += await time(() => viaRunner(runner, ['true']));
  cShort += await time(() => cli(['run', '--rm', IMAGE, 'true']));
  if (!runnerFirst) rShort += await time(() => viaRunner(runner, ['true']));
}

const script = `head -c ${MB * 1024 * 1024} /dev/zero`;
let bytes = 0;
const sink = (b: Buffer): void => {
  bytes += b.length;
};
const cliBig = await time(() => cli(['run', '--rm', IMAGE, 'sh', '-c', `${script}`]));
const runnerBig = await time(() => viaRunner(runner, ['sh', '-c', script], sink));
const cliBig2 = await time(() => cli(['run', '--rm', IMAGE, 'sh', '-c', `${script}`]));
const runnerBig2 = await time(() => viaRunner(runner, ['sh', '-c', script], sink));
if (bytes !== 2 * MB * 1024 * 1024) throw new Error(`lost output: ${bytes} bytes`);
const rBig = (runnerBig + runnerBig2) / 2;
const cBig = (cliBig + cliBig2) / 2;

const row = (name: string, r: number, c: number, target: number): string =>
  `| ${name} | ${r.toFixed(0)} ms | ${c.toFixed(0)} ms | ${(r / c).toFixed(2)} | ≤ ${target.toFixed(1)} |`;
console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
);
console.log('| benchmark | DockerRunner | docker CLI | ratio | target |');
console.log('| --- | --- | --- | --- | --- |');
console.log(row(`${N} sequential \`true\` containers`, rShort, cShort, 1.0));
console.log(row(`${MB} MB stdout to a sink (CLI: > /dev/null)`, rBig, cBig, 1.2));
await runner.janitor();
