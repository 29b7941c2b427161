// `npm run bench`: the core's performance figures, each against its target, printed as a Markdown table
// and written to bench-results/core.json. Peers run in the same process, interleaved, so a noisy shared
// machine affects both sides alike.
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { benchEngine } from './engine.bench.js';
import { timeDirectToFile } from './exec-log.bench.js';
import { timeExecPersisted } from './exec-log-engine.bench.js';
import { benchLocalRunner } from './local-runner.bench.js';

interface Row {
  figure: string;
  value: string;
  target: string;
  ok: boolean;
}
const rows: Row[] = [];
const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

for (const shape of ['chain', 'fan-out'] as const) {
  await benchEngine(1000, shape); // warm-up
  const figures = await benchEngine(10_000, shape);
  rows.push({
    figure: `10,000 no-op steps, ${shape} (SqliteStore)`,
    value: `${Math.round(figures.stepsPerSecond).toLocaleString('en')} steps/s`,
    target: '≥ 5,000 steps/s',
    ok: figures.stepsPerSecond >= 5000,
  });
}

// The 100,000-step run on the built package in a process of its own: default V8 heuristics, and with
// `--optimize-for-size`, which the CLI turns on for plans that large.
for (const flags of [[], ['--optimize-for-size']]) {
  const output = execFileSync(process.execPath, [...flags, 'bench/large-run-rss.mjs', '100000'], {
    encoding: 'utf8',
  });
  const big = JSON.parse(output.trim().split('\n').at(-1)!) as { peakRssMb: number; stepsPerSecond: number };
  rows.push({
    figure: `100,000-step run (fan-out), peak RSS${flags.length ? ', with --optimize-for-size' : ', default V8 heuristics'}`,
    value: `${Math.round(big.peakRssMb)} MB (${Math.round(big.stepsPerSecond).toLocaleString('en')} steps/s)`,
    target: '< 300 MB',
    ok: big.peakRssMb < 300,
  });
}

const direct: number[] = [];
const persisted: number[] = [];
let logEvents = 0;
await timeDirectToFile();
for (let i = 0; i < 5; i++) {
  direct.push(await timeDirectToFile());
  const run = await timeExecPersisted();
  persisted.push(run.ms);
  logEvents = run.logEvents;
}
const logRatio = median(direct) / median(persisted);
rows.push({
  figure: `1,000,000 log lines through exec, persisted (${logEvents} log events) vs written to a file`,
  value: `${median(persisted).toFixed(0)} ms vs ${median(direct).toFixed(0)} ms: ${logRatio.toFixed(2)}x the speed`,
  target: '≥ 0.5x',
  ok: logRatio >= 0.5,
});

const runner = await benchLocalRunner(200);
rows.push({
  figure: '200 short processes: LocalProcessRunner vs child_process.spawn',
  value: `${runner.runnerMs.toFixed(0)} ms vs ${runner.spawnMs.toFixed(0)} ms: ratio ${runner.ratio.toFixed(2)}`,
  target: '≤ 1.2',
  ok: runner.ratio <= 1.2,
});

const machine = `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, load ${os.loadavg()[0]!.toFixed(1)}`;
console.log(`\nMachine: ${machine}\n`);
console.log('| figure | measured | target | |\n| --- | --- | --- | --- |');
for (const row of rows)
  console.log(`| ${row.figure} | ${row.value} | ${row.target} | ${row.ok ? 'met' : 'MISSED'} |`);
mkdirSync('bench-results', { recursive: true });
writeFileSync(
  'bench-results/core.json',
  JSON.stringify({ machine, date: new Date().toISOString(), rows }, null, 2),
);
