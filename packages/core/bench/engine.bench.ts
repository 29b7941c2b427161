import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { of } from 'rxjs';
import { z } from 'zod';
import type { Command } from '../src/contracts/command.js';
import type { PipelineDefinition, StepDefinition } from '../src/contracts/pipeline.js';
import type { Plugin } from '../src/contracts/plugin.js';
import { createRuntime } from '../src/runtime/create-runtime.js';
import { SqliteStore } from '../src/store/sqlite-store.js';

const noop: Command<Record<string, never>> = {
  name: 'bench.noop',
  version: '1',
  runnerIdentity: () => null,
  params: z.object({}),
  execute: () => of({ type: 'outputs', outputs: {} }),
};
const benchPlugin: Plugin = {
  name: 'bench',
  register: (registry) => registry.addCommand(noop),
};

export interface EngineFigures {
  shape: 'chain' | 'fan-out';
  steps: number;
  seconds: number;
  stepsPerSecond: number;
  peakRssMb: number;
}

/** A pipeline of `count` no-op steps, each after the previous one (chain) or all independent (fan-out). */
export function noopPipeline(count: number, shape: EngineFigures['shape']): PipelineDefinition {
  const steps: Record<string, StepDefinition> = {};
  for (let i = 0; i < count; i++) {
    steps[`s${i}`] = {
      uses: 'bench.noop',
      needs: shape === 'chain' && i > 0 ? [`s${i - 1}`] : [],
      cache: false,
    };
  }
  return { name: `bench-${shape}`, steps };
}

/** Runs `count` no-op steps through the engine with a SqliteStore in a temporary folder. */
export async function benchEngine(count: number, shape: EngineFigures['shape']): Promise<EngineFigures> {
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'beamline-bench-'));
  const runtime = await createRuntime({ cwd, store: SqliteStore.open({ cwd }), plugins: [benchPlugin] });
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  try {
    const definition = noopPipeline(count, shape);
    const start = performance.now();
    const handle = await runtime.run(definition);
    const result = await handle.done;
    const seconds = (performance.now() - start) / 1000;
    if (result.status !== 'succeeded') throw new Error(`bench run ${result.status}`);
    peak = Math.max(peak, process.memoryUsage().rss);
    return { shape, steps: count, seconds, stepsPerSecond: count / seconds, peakRssMb: peak / 2 ** 20 };
  } finally {
    clearInterval(sampler);
    await runtime.close();
    rmSync(cwd, { recursive: true, force: true });
  }
}
