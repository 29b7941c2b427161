import 'reflect-metadata';
import os from 'node:os';
import { benchEngine } from './engine.bench.js';
await benchEngine(1000, 'chain');
const out: string[] = [];
for (const shape of ['chain', 'fan-out'] as const) {
  const r: number[] = [];
  for (let i = 0; i < 3; i++) r.push((await benchEngine(10_000, shape)).stepsPerSecond);
  out.push(`${shape} ${r.map((x) => x.toFixed(0)).join(' ')}`);
}
console.log(out.join(' | '), 'load', os.loadavg()[0]!.toFixed(1));
