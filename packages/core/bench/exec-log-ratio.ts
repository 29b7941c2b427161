import 'reflect-metadata';
import os from 'node:os';
import { timeDirectToFile, timeExecCollected } from './exec-log.bench.js';
import { timeExecPersisted } from './exec-log-engine.bench.js';
const n = Number(process.argv[2] ?? 5);
const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const d: number[] = [],
  c: number[] = [],
  p: number[] = [];
await timeDirectToFile();
await timeExecPersisted();
let ev = 0;
for (let i = 0; i < n; i++) {
  d.push(await timeDirectToFile());
  c.push((await timeExecCollected()).ms);
  const r = await timeExecPersisted();
  p.push(r.ms);
  ev = r.logEvents;
}
console.log(
  `load ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
console.log(`direct ${med(d).toFixed(0)} [${d.map((x) => x.toFixed(0))}]`);
console.log(`collected ${med(c).toFixed(0)} [${c.map((x) => x.toFixed(0))}]`);
console.log(`persisted ${med(p).toFixed(0)} [${p.map((x) => x.toFixed(0))}] events ${ev}`);
console.log(`ratio ${(med(d) / med(p)).toFixed(3)}`);
