// Peak RSS of a 100,000-step run, on the built package (how applications run it), in a process of its
// own so nothing else in the benchmark inflates it. Prints one JSON line.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { of } from 'rxjs';
import { z } from 'zod';
import { createRuntime, SqliteStore } from '../dist/index.js';

const count = Number(process.argv[2] ?? 100_000);
const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-rss-'));
const noop = {
  name: 'bench.noop',
  version: '1',
  runnerIdentity: () => null,
  params: z.object({}),
  execute: () => of({ type: 'outputs', outputs: {} }),
};
let peak = process.memoryUsage().rss;
const sample = () => (peak = Math.max(peak, process.memoryUsage().rss));
const runtime = await createRuntime({
  cwd,
  store: SqliteStore.open({ cwd }),
  plugins: [{ name: 'bench', register: (r) => r.addCommand(noop) }],
});
const steps = {};
for (let i = 0; i < count; i++) steps[`s${i}`] = { uses: 'bench.noop', needs: [], cache: false };
const start = performance.now();
const handle = await runtime.run({ name: 'rss', steps });
handle.events.on('event', sample);
const result = await handle.done;
sample();
const seconds = (performance.now() - start) / 1000;
await runtime.close();
rmSync(cwd, { recursive: true, force: true });
console.log(
  JSON.stringify({
    status: result.status,
    steps: count,
    peakRssMb: peak / 2 ** 20,
    stepsPerSecond: count / seconds,
  }),
);
