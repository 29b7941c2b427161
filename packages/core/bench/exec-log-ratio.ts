// The log throughput figure on its own, with the layer in between: `sh -c "<cmd> > file"`, the same
// command through `exec` without a store, and through the engine with a SqliteStore, interleaved n times
// (default 7). Prints the medians and the ratio the target is about (direct / persisted, at least 0.5).
//
//   TSX_TSCONFIG_PATH=../../tsconfig.base.json node --conditions=source --import tsx bench/exec-log-ratio.ts [n]
import 'reflect-metadata';
import os from 'node:os';
import { timeExecPersisted } from './exec-log-engine.bench.js';
import { timeDirectToFile, timeExecCollected } from './exec-log.bench.js';

const n = Number(process.argv[2] ?? 7);
const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const direct: number[] = [];
const collected: number[] = [];
const persisted: number[] = [];
let logEvents = 0;
// Warm-up: module loading, the first SQLite file, the page cache.
await timeDirectToFile();
await timeExecPersisted();
for (let i = 0; i < n; i++) {
  direct.push(await timeDirectToFile());
  collected.push((await timeExecCollected()).ms);
  const run = await timeExecPersisted();
  persisted.push(run.ms);
  logEvents = run.logEvents;
}
const show = (values: number[]): string =>
  `${median(values).toFixed(0)} ms [${values.map((v) => v.toFixed(0)).join(', ')}]`;
console.log(
  `load average ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
console.log(`written directly to a file:       ${show(direct)}`);
console.log(`through exec, not persisted:      ${show(collected)}`);
console.log(`through the engine, persisted:    ${show(persisted)} (${logEvents} log events)`);
console.log(`ratio (direct / persisted): ${(median(direct) / median(persisted)).toFixed(2)} (target ≥ 0.5)`);
