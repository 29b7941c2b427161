// Peak RSS of a 100,000-step run, on the built package (how applications run it), in a process of its
// own so nothing else in the benchmark inflates it. Prints one JSON line.
//
//   node bench/large-run-rss.mjs [fan-out|matrix|chain] [steps]
//
// fan-out: independent no-op steps. matrix: prepare → process (a matrix over a list param of steps − 2
// values, each instance reading prepare's output) → summarise (reading every instance's output). chain:
// each step reads the output of the one before. The caller keeps its definition until the run is done,
// as an application that built it would. Peak RSS is the kernel's high-water mark for the process
// (`process.resourceUsage().maxRSS`), not a sample.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { of } from 'rxjs';
import { z } from 'zod';
import { createRuntime, SqliteStore } from '../dist/index.js';

const shape = process.argv[2] ?? 'fan-out';
const count = Number(process.argv[3] ?? 100_000);

const noop = {
  name: 'bench.noop',
  version: '1',
  runnerIdentity: () => null,
  params: z.object({}),
  execute: () => of({ type: 'outputs', outputs: {} }),
};
const echo = {
  name: 'bench.echo',
  version: '1',
  runnerIdentity: () => null,
  params: z.record(z.string(), z.unknown()),
  execute: (_context, params) => of({ type: 'outputs', outputs: { result: params.input ?? 'none' } }),
};

/** The pipeline of a shape, and the params of its run. */
function pipeline() {
  if (shape === 'matrix') {
    const items = Array.from({ length: count - 2 }, (_, i) => `item-${i}`);
    const steps = {
      prepare: { uses: 'bench.echo', with: { input: 'data' }, cache: false },
      process: {
        uses: 'bench.echo',
        needs: 'prepare',
        matrix: { item: '${{ params.items }}' },
        with: {
          input: '${{ steps.prepare.outputs.result }}/${{ matrix.item }}',
          options: { threshold: 0.5, mode: 'fast' },
        },
        cache: false,
      },
      summarise: { uses: 'bench.echo', with: { all: '${{ steps.process.outputs.result }}' }, cache: false },
    };
    return { definition: { name: 'matrix', params: { items: { type: 'array' } }, steps }, params: { items } };
  }
  const steps = {};
  for (let i = 0; i < count; i++) {
    if (shape === 'chain') {
      steps[`s${i}`] = { uses: 'bench.echo', cache: false };
      if (i > 0) steps[`s${i}`].with = { input: `\${{ steps.s${i - 1}.outputs.result }}` };
    } else if (shape === 'fan-out') {
      steps[`s${i}`] = { uses: 'bench.noop', needs: [], cache: false };
    } else {
      throw new Error(`unknown shape ${shape}; expected fan-out, matrix or chain`);
    }
  }
  return { definition: { name: shape, steps }, params: {} };
}

const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-rss-'));
try {
  const runtime = await createRuntime({
    cwd,
    store: SqliteStore.open({ cwd }),
    plugins: [{ name: 'bench', register: (registry) => [noop, echo].forEach((c) => registry.addCommand(c)) }],
  });
  const { definition, params } = pipeline();
  const start = performance.now();
  const handle = await runtime.run(definition, { params });
  const planned = performance.now();
  const result = await handle.done;
  const seconds = (performance.now() - start) / 1000;
  await runtime.close();
  if (result.status !== 'succeeded') throw new Error(`the ${shape} run ended ${result.status}`);
  console.log(
    JSON.stringify({
      shape,
      steps: Object.keys(result.steps).length,
      definitionSteps: Object.keys(definition.steps).length,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      stepsPerSecond: count / seconds,
      planAndRecordMs: planned - start,
    }),
  );
} finally {
  rmSync(cwd, { recursive: true, force: true });
}
