// Benchmarks SlurmRunner against sbatch and squeue polling in the same script (ratios against a peer).
//   npm run bench    (in packages/plugin-slurm; needs scripts/setup-test-env.sh's cluster)
// 1. Submit-to-finished latency of a short step: SlurmRunner.exec until its stream completes (the job is
//    off the queue and the node) vs `sbatch --parsable` of the same command, then `squeue -j` every 100 ms
//    until the job is no longer listed (a COMPLETING job is still listed). Interleaved, alternating which
//    side goes first, median of the rounds; `sbatch --wait` is timed a few times for reference.
// 2. Fan-out: 100 steps at once through SlurmRunner vs 100 `sbatch` calls (as a shell loop would make
//    them), then squeue polling until all are gone.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SlurmRunner } from '../src/runner/slurm-runner.js';
import { slurmToken, SLURM_URL } from '../test/cluster.js';

const run = promisify(execFile);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const FAN_OUT = Number(process.env.BENCH_FAN_OUT ?? 100);
const FAN_ROUNDS = Number(process.env.BENCH_FAN_ROUNDS ?? 3);
const POLL_MS = 100;
const COMMAND = 'echo hello';

const dir = mkdtempSync(path.join(tmpdir(), 'beamline-slurm-bench-'));
const outputDir = path.join(dir, 'runner');
mkdirSync(outputDir);
const script = path.join(dir, 'job.sh');
writeFileSync(script, `#!/bin/sh\n${COMMAND}\n`, { mode: 0o755 });
const runner = new SlurmRunner({ url: SLURM_URL, token: () => slurmToken(), outputDir, project: 'bl-bench' });

function viaRunner(): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    runner.exec({ argv: ['sh', '-c', COMMAND], cwd: dir }).subscribe({
      next: (e) => {
        if (e.type === 'exit' && e.code !== 0) reject(new Error(`exit ${e.code ?? e.signal}`));
      },
      error: reject,
      complete: resolve,
    });
  });
}

async function sbatch(extra: string[] = []): Promise<number> {
  const { stdout } = await run('sbatch', [
    '--parsable',
    '--chdir',
    dir,
    '-o',
    path.join(dir, 'sbatch-%j.out'),
    ...extra,
    script,
  ]);
  return Number(stdout.trim().split(';')[0]);
}

/** Polls squeue until none of the jobs is listed any more. */
async function waitGone(jobIds: readonly number[]): Promise<void> {
  for (;;) {
    const { stdout } = await run('squeue', ['-h', '-o', '%i', '-j', jobIds.join(',')]).catch(() => ({
      stdout: '',
    }));
    if (stdout.trim() === '') return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

const viaSbatch = async (): Promise<void> => waitGone([await sbatch()]);

async function time(f: () => Promise<void>): Promise<number> {
  const t = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
const loadBefore = load();

// Warm-up: connections, JIT, the first job after a controller start (slower).
await viaRunner();
await viaSbatch();

const ours: number[] = [];
const theirs: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  const runnerFirst = i % 2 === 0;
  if (runnerFirst) ours.push(await time(viaRunner));
  theirs.push(await time(viaSbatch));
  if (!runnerFirst) ours.push(await time(viaRunner));
}
const waits: number[] = [];
for (let i = 0; i < 3; i++) waits.push(await time(async () => void (await sbatch(['--wait']))));

const fanOurs: number[] = [];
const fanTheirs: number[] = [];
for (let i = 0; i < FAN_ROUNDS; i++) {
  const runnerFirst = i % 2 === 0;
  const oursOnce = () =>
    time(async () => void (await Promise.all(Array.from({ length: FAN_OUT }, viaRunner))));
  const theirsOnce = () =>
    time(async () => {
      const ids: number[] = [];
      for (let j = 0; j < FAN_OUT; j++) ids.push(await sbatch());
      await waitGone(ids);
    });
  if (runnerFirst) fanOurs.push(await oursOnce());
  fanTheirs.push(await theirsOnce());
  if (!runnerFirst) fanOurs.push(await oursOnce());
}

await runner.dispose();
rmSync(dir, { recursive: true, force: true });

const row = (name: string, r: number, c: number, target: string): string =>
  `| ${name} | ${r.toFixed(0)} ms | ${c.toFixed(0)} ms | ${(r / c).toFixed(2)} | ${target} |`;
console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}; load ${loadBefore} before, ${load()} after`,
);
console.log(`Slurm on this machine: median of ${ROUNDS} interleaved rounds (fan-out: ${FAN_ROUNDS})`);
console.log('| benchmark | SlurmRunner | sbatch + squeue polling (100 ms) | ratio | target |');
console.log('| --- | --- | --- | --- | --- |');
console.log(row(`submit to finished, one \`${COMMAND}\` step`, median(ours), median(theirs), '≤ 1.2'));
console.log(
  row(`${FAN_OUT} steps at once vs ${FAN_OUT} sbatch calls`, median(fanOurs), median(fanTheirs), 'reported'),
);
console.log(`sbatch --wait of the same script: ${median(waits).toFixed(0)} ms (median of ${waits.length})`);
console.log(`runner rounds: ${ours.map((v) => v.toFixed(0)).join(' ')}`);
console.log(`sbatch rounds: ${theirs.map((v) => v.toFixed(0)).join(' ')}`);
process.exitCode = 0;
