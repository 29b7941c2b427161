import type { Feature } from '../features.js';
import type { PluginNames } from '../names.js';

/** `test/plugin.test.ts`: the plugin in a real runtime, and core's contract suite for its runner. */
export function testFile(n: PluginNames, features: readonly Feature[]): string {
  const has = (feature: Feature): boolean => features.includes(feature);
  const fromIndex = [
    n.factory,
    `is${n.pascal}Error`,
    ...(has('runner') ? [`${n.pascal}RunnerToken`] : []),
    ...(has('service') ? [`${n.pascal}ServiceToken`] : []),
  ];
  const parts: string[] = [];
  parts.push(`import { createRuntime, MemoryStore, type Runtime } from '@beamline/core';
${has('runner') ? `import { runnerContractSuite } from '@beamline/core/testing';\n` : ''}import { afterEach, describe, expect, it } from 'vitest';
import { ${fromIndex.join(', ')} } from '../src/index.js';

const runtimes: Runtime[] = [];
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((runtime) => runtime.close()));
});

async function runtimeWith(options: Parameters<typeof ${n.factory}>[0] = {}): Promise<Runtime> {
  const runtime = await createRuntime({ store: new MemoryStore(), plugins: [${n.factory}(options)] });
  runtimes.push(runtime);
  return runtime;
}
`);
  if (has('runner')) {
    parts.push(`// The conformance suite every runner passes (start, output, exit, timeout, cancel, kill, concurrency).
let suiteRuntime: Runtime | undefined;
runnerContractSuite('${n.pascal}Runner', {
  create: async () => {
    suiteRuntime = await createRuntime({ store: new MemoryStore(), plugins: [${n.factory}()] });
    return suiteRuntime.resolve(${n.pascal}RunnerToken);
  },
  dispose: async () => suiteRuntime?.close(),
});
`);
  }
  parts.push(`describe('${n.factory}', () => {`);
  if (has('command')) {
    parts.push(`  it('runs ${n.plugin}.hello in a pipeline', async () => {
    const runtime = await runtimeWith({ greeting: 'hi' });
    const run = await runtime.run({ name: 'test', steps: { greet: { uses: '${n.plugin}.hello', with: { who: 'ada' } } } });
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    expect(result.steps.greet?.outputs).toEqual({ greeting: 'hi ada' });
  });

  it('refuses unknown parameters before the run starts', async () => {
    const runtime = await runtimeWith();
    await expect(
      runtime.run({ name: 'test', steps: { greet: { uses: '${n.plugin}.hello', with: { who: 'ada', whom: 'x' } } } }),
    ).rejects.toMatchObject({ code: 'CORE_PARAMS_INVALID' });
  });
`);
  }
  if (has('runner')) {
    parts.push(`  it('runs a step with runner: ${n.plugin}, with its environment', async () => {
    const runtime = await runtimeWith({ env: { GREETING: 'hello' } });
    const run = await runtime.run({
      name: 'test',
      steps: { say: { uses: 'exec', runner: '${n.plugin}', with: { command: 'echo "::output said=$GREETING"' } } },
    });
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    expect(result.steps.say?.outputs).toMatchObject({ said: 'hello' });
  });
`);
  }
  if (has('service')) {
    parts.push(`  it('starts the status service with the runtime and stops it on close', async () => {
    const runtime = await runtimeWith();
    const service = runtime.resolve(${n.pascal}ServiceToken);
    const response = await fetch(new URL('health', service.url));
    expect(await response.json()).toEqual({ ok: true });
    expect(await service.health()).toEqual({ ok: true });
    await runtime.close();
    expect((await service.health()).ok).toBe(false);
  });
`);
  }
  const badOption = has('command')
    ? `{ greeting: ' ' }`
    : has('runner')
      ? `{ env: { 'NOT A NAME': 'x' } }`
      : `{ port: 70000 }`;
  parts.push(`  it('refuses bad options with a coded error', () => {
    expect(() => ${n.factory}(${badOption})).toThrow(
      expect.objectContaining({ code: '${n.constant}_CONFIG_INVALID' }) as Error,
    );
    try {
      ${n.factory}(${badOption});
    } catch (error) {
      expect(is${n.pascal}Error(error, '${n.constant}_CONFIG_INVALID')).toBe(true);
    }
  });
});
`);
  return parts.join('\n');
}
