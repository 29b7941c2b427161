import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PipelineDefinition, StepDefinition } from '../contracts/pipeline.js';
import type { Runtime } from '../contracts/runtime.js';
import { createRuntime } from '../runtime/create-runtime.js';
import { createProbe, testCommandsPlugin } from '../runtime/test-fixtures/test-commands.js';
import { MemoryStore } from '../store/memory-store.js';

const runtimes: Runtime[] = [];
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((runtime) => runtime.close()));
});

async function runtime(): Promise<Runtime> {
  const created = await createRuntime({
    store: new MemoryStore(),
    cwd: mkdtempSync(path.join(os.tmpdir(), 'beamline-large-')),
    resources: { cpus: 8, memoryMb: 1024, gpus: [] },
    plugins: [testCommandsPlugin(createProbe())],
  });
  runtimes.push(created);
  return created;
}

describe('the engine with large and deep plans', () => {
  it('cancels the rest of a 100,000-step chain whose first step fails, without overflowing the stack', async () => {
    const steps: Record<string, StepDefinition> = {
      s0: { uses: 'test.work', with: { failTimes: 1, retryable: false }, cache: false },
    };
    for (let i = 1; i < 100_000; i++) steps[`s${i}`] = { uses: 'test.work', cache: false };
    const handle = await (await runtime()).run({ name: 'deep', steps });
    const result = await handle.done;
    expect(result.status).toBe('failed');
    expect(result.steps.s0?.status).toBe('failed');
    expect(result.steps.s1?.status).toBe('cancelled');
    expect(result.steps.s99999?.status).toBe('cancelled');
  }, 120_000);

  it('keeps an output for every step that reads it, through the needs of steps in between', async () => {
    // `c` reads `a` without needing it directly; `b`, which `a` waits for too, runs in between.
    const definition: PipelineDefinition = {
      name: 'reads',
      steps: {
        a: { uses: 'test.work', with: { value: 'from a' }, needs: [] },
        b: { uses: 'test.work', with: { value: '${{ steps.a.outputs.value }} via b' }, needs: ['a'] },
        other: { uses: 'test.work', with: { value: '${{ steps.a.outputs.value }}!' }, needs: ['a'] },
        c: {
          uses: 'test.work',
          with: { value: '${{ steps.a.outputs.value }} and ${{ steps.b.outputs.value }}' },
          needs: ['b'],
        },
        d: { uses: 'test.work', with: { value: '${{ steps.a.outputs.value }} at the end' }, needs: ['c'] },
      },
    };
    const result = await (await (await runtime()).run(definition)).done;
    expect(result.status).toBe('succeeded');
    expect(result.steps.c?.outputs?.value).toBe('from a and from a via b');
    expect(result.steps.d?.outputs?.value).toBe('from a at the end');
    expect(result.steps.other?.outputs?.value).toBe('from a!');
  });

  it('gives every matrix instance and a step reading all of them the outputs they read', async () => {
    const items = Array.from({ length: 50 }, (_, i) => `item-${i}`);
    const definition: PipelineDefinition = {
      name: 'matrix',
      params: { items: { type: 'array' } },
      steps: {
        prepare: { uses: 'test.work', with: { value: 'data' } },
        process: {
          uses: 'test.work',
          needs: 'prepare',
          matrix: { item: '${{ params.items }}' },
          with: { value: '${{ steps.prepare.outputs.value }}/${{ matrix.item }}' },
        },
        summarise: { uses: 'test.work', with: { value: '${{ steps.process.outputs.value }}' } },
        again: { uses: 'test.work', with: { value: '${{ steps.process.outputs.value }}' } },
      },
    };
    const result = await (await (await runtime()).run(definition, { params: { items } })).done;
    expect(result.status).toBe('succeeded');
    const expected = items.map((item) => `data/${item}`);
    expect(result.steps.summarise?.outputs?.value).toEqual(expected);
    expect(result.steps.again?.outputs?.value).toEqual(expected);
  });
});
