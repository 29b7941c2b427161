// `npm run bench`: the core's performance figures, each against its target, printed as a Markdown table
// and written to bench-results/core.json. Peers run in the same process, interleaved, so a noisy shared
// machine affects both sides alike.
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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
const require = createRequire(import.meta.url);
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

// 100,000-step runs on the built package, each in a process of its own, with Node's default flags: the
// fan-out of no-op steps, and the realistic shapes (a 100,000-value matrix between two steps, a chain
// whose steps read the previous outputs). Peak RSS varies by tens of MB from run to run with the moments
// V8 picks for full collections, so each figure is the median of several runs.
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
  stdio: 'inherit',
});
interface LargeRun {
  peakRssMb: number;
  stepsPerSecond: number;
}
const largeRun = (shape: string): LargeRun => {
  const output = execFileSync(process.execPath, ['bench/large-run-rss.mjs', shape, '100000'], {
    encoding: 'utf8',
  });
  return JSON.parse(output.trim().split('\n').at(-1)!) as LargeRun;
};
const rssRuns = Number(process.env.RSS_RUNS ?? 5);
for (const shape of ['fan-out', 'matrix', 'chain']) {
  const runs = Array.from({ length: rssRuns }, () => largeRun(shape));
  const peak = median(runs.map((run) => run.peakRssMb));
  const speed = median(runs.map((run) => run.stepsPerSecond));
  rows.push({
    figure: `100,000-step run (${shape}), peak RSS, median of ${rssRuns}, Node's default flags`,
    value: `${Math.round(peak)} MB (runs ${runs.map((run) => Math.round(run.peakRssMb)).join(', ')}; ${Math.round(speed).toLocaleString('en')} steps/s)`,
    target: '< 300 MB',
    ok: peak < 300,
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
