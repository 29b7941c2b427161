import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Plugin } from '../contracts/plugin.js';
import type { ProcessSpec, Runner } from '../contracts/runner.js';
import type { Runtime } from '../contracts/runtime.js';
import { isCoreError } from '../errors/core-error.js';
import { MemoryStore } from '../store/memory-store.js';
import { createRuntime } from './create-runtime.js';

const runtimes: Runtime[] = [];
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((runtime) => runtime.close()));
});

/** A plugin that places every runner: it sees each spec, then runs it with the runner the step named. */
function placingPlugin(name: string, seen: Array<{ runner: string; spec: ProcessSpec }>): Plugin {
  return {
    name,
    register(registry) {
      registry.placeRunners((runner): Runner => ({
        name: runner.name,
        placement: 'remote',
        identity: async (request) => `placed:${await runner.identity(request)}`,
        exec: (spec, options) => {
          seen.push({ runner: runner.name, spec });
          return runner.exec(spec, options);
        },
      }));
    },
  };
}

describe('PluginRegistry.placeRunners', () => {
  it('hands every step to the placed runner, with the request and labels, and takes nothing from the pool', async () => {
    const seen: Array<{ runner: string; spec: ProcessSpec }> = [];
    const runtime = await createRuntime({
      store: new MemoryStore(),
      cwd: mkdtempSync(path.join(os.tmpdir(), 'beamline-place-')),
      plugins: [placingPlugin('placer', seen)],
      // No GPU on this host: a step asking for two is not refused, another host's worker grants them.
      resources: { gpus: [] },
    });
    runtimes.push(runtime);
    const run = await runtime.run({
      name: 'placed',
      steps: {
        hello: {
          uses: 'exec',
          with: { command: 'echo hi' },
          'runs-on': ['gpu=a100'],
          resources: { gpus: 2 },
        },
      },
    });
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    expect(seen.map((entry) => entry.runner)).toEqual(['local']);
    expect(seen[0]?.spec.request).toEqual({ cpus: 1, memoryMb: 0, gpus: 2, labels: ['gpu=a100'] });
    // The placed runner's identity is the cache key's runner part.
    expect(result.steps.hello?.keyParts?.runner).toMatch(/^placed:local:/);
    // The grant is the request's counts: no GPU id from this host.
    expect(result.steps.hello?.status).toBe('succeeded');
  });

  it('lets only one plugin place the runners', async () => {
    const error = await createRuntime({
      store: new MemoryStore(),
      plugins: [placingPlugin('first', []), placingPlugin('second', [])],
    }).then(
      async (runtime) => {
        await runtime.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(isCoreError(error, 'CORE_PLUGIN_DUPLICATE'), String(error)).toBe(true);
    expect((error as Error).message).toContain(
      'Plugin "second" places runners, but plugin "first" already does',
    );
  });
});
