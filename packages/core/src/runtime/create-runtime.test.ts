import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../contracts/events.js';
import type { PipelineDefinition, StepDefinition } from '../contracts/pipeline.js';
import type { Plugin } from '../contracts/plugin.js';
import type { Runtime, RuntimeOptions } from '../contracts/runtime.js';
import { isCoreError } from '../errors/core-error.js';
import { MemoryStore } from '../store/memory-store.js';
import { createRuntime } from './create-runtime.js';
import { createProbe, testCommandsPlugin, type Probe } from './test-fixtures/test-commands.js';

const runtimes: Runtime[] = [];
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((runtime) => runtime.close()));
});

async function setup(options: RuntimeOptions = {}): Promise<{ runtime: Runtime; probe: Probe }> {
  const probe = createProbe();
  const runtime = await createRuntime({
    store: new MemoryStore(),
    cwd: mkdtempSync(path.join(os.tmpdir(), 'beamline-rt-')),
    resources: { cpus: 8, memoryMb: 1024, gpus: [] },
    ...options,
    plugins: [testCommandsPlugin(probe), ...(options.plugins ?? [])],
  });
  runtimes.push(runtime);
  return { runtime, probe };
}

function pipeline(
  steps: Record<string, Omit<StepDefinition, 'uses'> & { uses?: string }>,
): PipelineDefinition {
  const full: Record<string, StepDefinition> = {};
  for (const [id, step] of Object.entries(steps)) full[id] = { uses: 'test.work', ...step };
  return { name: 'engine-test', steps: full };
}

function types(events: RunEvent[], stepId?: string): string[] {
  return events
    .filter((e) => stepId === undefined || ('stepId' in e && e.stepId === stepId))
    .map((e) => e.type);
}

describe('createRuntime', () => {
  it('runs a DAG in dependency order and passes outputs along', async () => {
    const { runtime } = await setup();
    const handle = await runtime.run(
      pipeline({
        a: { with: { value: 21 }, needs: [] },
        b: { with: { value: 'b saw ${{ steps.a.outputs.value }}' }, needs: ['a'] },
        c: { with: { value: 'got ${{ steps.b.outputs.value }}' }, needs: ['b'] },
      }),
    );
    const result = await handle.done;
    expect(result.status).toBe('succeeded');
    expect(result.steps.c?.outputs?.value).toBe('got b saw 21');
    const events = await lastValueFrom(handle.events$.pipe(toArray()));
    const order = events.filter((e) => e.type === 'succeeded').map((e) => ('stepId' in e ? e.stepId : ''));
    expect(order).toEqual(['a', 'b', 'c']);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)?.type).toBe('run-succeeded');
  });

  it('bounds parallelism by maxParallel and by CPUs', async () => {
    const { runtime, probe } = await setup({ maxParallel: 3 });
    const steps: Record<string, StepDefinition> = {};
    for (let i = 0; i < 12; i++) steps[`s${i}`] = { uses: 'test.work', with: { ms: 20 }, needs: [] };
    expect((await (await runtime.run({ name: 'fan', steps })).done).status).toBe('succeeded');
    expect(probe.maxRunning).toBe(3);

    const cpuBound = await setup({ resources: { cpus: 2, memoryMb: 1024, gpus: [] } });
    for (const step of Object.values(steps)) step.resources = { cpus: 1 };
    expect((await (await cpuBound.runtime.run({ name: 'fan', steps })).done).status).toBe('succeeded');
    expect(cpuBound.probe.maxRunning).toBe(2);
  });

  it('retries retryable failures with backoff and stops at once on non-retryable ones', async () => {
    const { runtime, probe } = await setup();
    const handle = await runtime.run(
      pipeline({
        flaky: { with: { failTimes: 2 }, retry: { attempts: 3, initialDelayMs: 20, jitter: 0 }, needs: [] },
        broken: { with: { failTimes: 5, retryable: false }, retry: 5, needs: [] },
      }),
    );
    const result = await handle.done;
    const events = await lastValueFrom(handle.events$.pipe(toArray()));
    expect(result.steps.flaky?.status).toBe('succeeded');
    expect(result.steps.flaky?.outputs?.attempt).toBe(3);
    const delays = events.flatMap((e) => (e.type === 'retrying' && e.stepId === 'flaky' ? [e.delayMs] : []));
    expect(delays).toEqual([20, 40]);
    expect(probe.executions.broken).toBe(1);
    expect(result.steps.broken?.status).toBe('failed');
    expect(result.status).toBe('failed');
  });

  it('stops a step at its timeout and records why', async () => {
    const { runtime, probe } = await setup();
    const handle = await runtime.run(pipeline({ slow: { with: { ms: -1 }, timeout: 100, needs: [] } }));
    const result = await handle.done;
    expect(probe.aborted).toEqual(['slow']);
    expect(result.steps.slow?.status).toBe('failed');
    expect(result.steps.slow?.error?.code).toBe('CORE_TIMEOUT');
  });

  it('cancels running work, skips what has not started, and records the reason', async () => {
    const { runtime, probe } = await setup();
    const handle = await runtime.run(
      pipeline({ long: { with: { ms: -1 } }, after: { with: { value: 'after' } } }),
    );
    handle.events.on('started', () => setTimeout(() => handle.cancel('user pressed stop'), 20));
    const result = await handle.done;
    expect(result.status).toBe('cancelled');
    expect(probe.aborted).toEqual(['long']);
    expect(result.steps.long?.status).toBe('cancelled');
    expect(result.steps.after?.status).toBe('cancelled');
    const state = await runtime.store.runState(handle.id);
    expect(state?.cancelReason).toBe('user pressed stop');
  });

  it('cancels on a request another process writes to the store', async () => {
    const { runtime } = await setup({ cancelPollMs: 20 });
    const handle = await runtime.run(pipeline({ long: { with: { ms: -1 } } }));
    handle.events.on('started', () => void runtime.store.requestCancel(handle.id, 'from elsewhere'));
    const result = await handle.done;
    expect(result.status).toBe('cancelled');
    expect((await runtime.store.runState(handle.id))?.cancelReason).toBe('from elsewhere');
  });

  it('skips the dependants of a failed step but finishes independent work', async () => {
    const { runtime } = await setup();
    const handle = await runtime.run(
      pipeline({
        bad: { with: { failTimes: 1 }, needs: [] },
        child: { needs: ['bad'] },
        other: { needs: [] },
      }),
    );
    const result = await handle.done;
    expect(result.status).toBe('failed');
    expect(result.error?.message).toContain('"bad"');
    expect(result.steps.child?.status).toBe('cancelled');
    expect(result.steps.other?.status).toBe('succeeded');
  });

  it('grants specific GPU ids and never the same one twice at a time', async () => {
    const { runtime, probe } = await setup({ resources: { cpus: 8, memoryMb: 1024, gpus: ['0', '1'] } });
    const steps: Record<string, StepDefinition> = {};
    for (let i = 0; i < 4; i++)
      steps[`g${i}`] = { uses: 'test.work', with: { ms: 30 }, resources: { gpus: 1 }, needs: [] };
    const handle = await runtime.run({ name: 'gpus', steps });
    const events = await lastValueFrom(handle.events$.pipe(toArray()));
    expect((await handle.done).status).toBe('succeeded');
    expect(probe.maxRunning).toBe(2);
    expect(Object.values(probe.grants).flat().sort()).toEqual(['0', '0', '1', '1']);
    const started = events.filter((e) => e.type === 'started');
    expect(started.every((e) => e.type === 'started' && e.resources.gpus.length === 1)).toBe(true);
  });

  it('runs a GPU step on CPU when gpuOptional and no GPU exists, and refuses one that could never start', async () => {
    const { runtime, probe } = await setup();
    const ok = await runtime.run(pipeline({ train: { resources: { gpus: 1, gpuOptional: true } } }));
    expect((await ok.done).status).toBe('succeeded');
    expect(probe.grants.train).toEqual([]);
    const refused = await runtime
      .run(pipeline({ train: { resources: { gpus: 1 } } }))
      .catch((e: unknown) => e);
    expect(isCoreError(refused, 'CORE_RESOURCES_UNSATISFIABLE')).toBe(true);
    expect((refused as Error).message).toContain('gpuOptional');
  });

  it('gives identical work the same key: a step equal to an earlier one reuses its result', async () => {
    const { runtime, probe } = await setup();
    const result = await (
      await runtime.run(pipeline({ a: { with: { value: 1 } }, b: { with: { value: 1 } } }))
    ).done;
    expect(result.steps.b?.status).toBe('cached');
    expect(probe.executions).toEqual({ a: 1 });
  });

  it('serves unchanged steps from the cache and explains what changed', async () => {
    const { runtime, probe } = await setup();
    const def = (value: number): PipelineDefinition =>
      pipeline({ a: { with: { value: 'a' } }, b: { with: { value } } });
    const first = await runtime.run(def(1));
    await first.done;
    const second = await runtime.run(def(1));
    const secondResult = await second.done;
    expect(secondResult.steps.a?.status).toBe('cached');
    expect(secondResult.steps.b?.status).toBe('cached');
    expect(probe.executions).toEqual({ a: 1, b: 1 });
    const cachedWhy = await runtime.explain(second.id, 'b');
    expect(cachedWhy.summary).toContain(first.id);

    const third = await runtime.run(def(2));
    const thirdResult = await third.done;
    expect(thirdResult.steps.a?.status).toBe('cached');
    expect(thirdResult.steps.b?.status).toBe('succeeded');
    const why = await runtime.explain(third.id, 'b');
    expect(why.changes).toEqual([{ part: 'params', before: { value: 1 }, after: { value: 2 } }]);
    expect(why.comparedWith?.runId).toBe(first.id);
  });

  it('resumes a cancelled run without running completed steps again', async () => {
    const { runtime, probe } = await setup();
    const def = pipeline({
      a: { with: { value: 'a' } },
      b: { with: { ms: -1 } },
      c: { with: { value: 'c' } },
    });
    const handle = await runtime.run(def, { noCache: true });
    handle.events.on('started', (e) => e.stepId === 'b' && handle.cancel('pause'));
    expect((await handle.done).status).toBe('cancelled');
    // Make b finish this time: resume replays the stored plan, so patch the probe instead of the plan.
    const resumed = await runtime.resume(handle.id);
    setTimeout(() => resumed.cancel('again'), 50);
    expect((await resumed.done).status).toBe('cancelled');
    expect(probe.executions.a).toBe(1);
    const events = await lastValueFrom(resumed.events$.pipe(toArray()));
    expect(types(events, 'a').filter((t) => t === 'succeeded')).toHaveLength(1);
    expect(
      events.filter((e) => e.type === 'run-started').map((e) => e.type === 'run-started' && e.resumed),
    ).toEqual([false, true]);
  });

  it('cancels a step whose start a listener cancelled synchronously, without running it', async () => {
    const { runtime, probe } = await setup();
    const handle = await runtime.run(pipeline({ long: { with: { ms: -1 } } }));
    handle.events.on('started', () => handle.cancel('at once'));
    expect((await handle.done).status).toBe('cancelled');
    expect(probe.executions).toEqual({});
  });

  it('gives a late subscriber every event once, and typed listeners the same events', async () => {
    const { runtime } = await setup();
    const handle = await runtime.run(
      pipeline({ a: { with: { value: 1 } }, b: { with: { value: 2 } }, c: { with: { value: 3 } } }),
    );
    const heard: string[] = [];
    handle.events.on('succeeded', (e) => heard.push(e.stepId));
    await handle.done;
    const late = await lastValueFrom(handle.events$.pipe(toArray()));
    expect(late.map((e) => e.seq)).toEqual(late.map((_, i) => i + 1));
    expect(heard).toEqual(['a', 'b', 'c']);
  });

  it('rejects unknown commands and runners before anything runs', async () => {
    const { runtime, probe } = await setup();
    const error = await runtime.run(pipeline({ a: {}, b: { uses: 'nope' } })).catch((e: unknown) => e);
    expect(isCoreError(error, 'CORE_PIPELINE_INVALID')).toBe(true);
    expect(probe.executions).toEqual({});
    expect(await runtime.store.listRuns()).toEqual([]);
  });

  it('rejects invalid parameters before anything runs', async () => {
    const { runtime, probe } = await setup();
    const error = await runtime
      .run(pipeline({ a: {}, b: { with: { ms: 'soon' } } }))
      .catch((e: unknown) => e);
    expect(isCoreError(error, 'CORE_PARAMS_INVALID')).toBe(true);
    expect((error as Error).message).toContain('with.ms');
    expect(probe.executions).toEqual({});
  });
});

describe('plugin host', () => {
  const plugin = (name: string, dependencies: string[] = [], log: string[] = []): Plugin => ({
    name,
    dependencies,
    register: () => log.push(`register ${name}`),
    start: () => Promise.resolve(void log.push(`start ${name}`)),
    stop: () => Promise.resolve(void log.push(`stop ${name}`)),
  });

  it('registers dependencies first and stops in reverse order', async () => {
    const log: string[] = [];
    const runtime = await createRuntime({
      store: new MemoryStore(),
      plugins: [plugin('b', ['a'], log), plugin('a', [], log)],
    });
    await runtime.close();
    expect(log).toEqual(['register a', 'register b', 'start a', 'start b', 'stop b', 'stop a']);
  });

  it('refuses duplicate plugins and missing dependencies with coded errors', async () => {
    const duplicate = await createRuntime({
      store: new MemoryStore(),
      plugins: [plugin('a'), plugin('a')],
    }).catch((e: unknown) => e);
    expect(isCoreError(duplicate, 'CORE_PLUGIN_DUPLICATE')).toBe(true);
    const missing = await createRuntime({
      store: new MemoryStore(),
      plugins: [plugin('b', ['docker'])],
    }).catch((e: unknown) => e);
    expect(isCoreError(missing, 'CORE_PLUGIN_MISSING_DEPENDENCY')).toBe(true);
    expect((missing as Error).message).toContain('"docker"');
  });

  it('refuses a second command of the same name', async () => {
    const probe = createProbe();
    const error = await createRuntime({
      store: new MemoryStore(),
      plugins: [testCommandsPlugin(probe), { ...testCommandsPlugin(probe), name: 'again' }],
    }).catch((e: unknown) => e);
    expect(isCoreError(error, 'CORE_COMMAND_DUPLICATE')).toBe(true);
  });
});
