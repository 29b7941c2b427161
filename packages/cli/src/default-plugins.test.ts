import { createRuntime, MemoryStore } from '@beamline/core';
import { describe, expect, it } from 'vitest';
import { defaultPlugins } from './default-plugins.js';

describe('the default plugins', () => {
  it('leave Slurm out unless the environment names a slurmrestd', async () => {
    expect(defaultPlugins({}).map((p) => p.name)).toEqual(['docker', 'grid']);
    expect(defaultPlugins({ BEAMLINE_SLURM_URL: '' }).map((p) => p.name)).toEqual(['docker', 'grid']);
    const runtime = await createRuntime({ plugins: defaultPlugins({}), store: new MemoryStore() });
    expect(runtime.runner('slurm')).toBeUndefined();
    await runtime.close();
  });

  it('add the slurm runner with the partition, account and QOS the environment gives', async () => {
    const plugins = defaultPlugins({
      BEAMLINE_SLURM_URL: 'http://127.0.0.1:1',
      BEAMLINE_SLURM_PARTITION: 'gpu',
      BEAMLINE_SLURM_ACCOUNT: 'phys',
      BEAMLINE_SLURM_QOS: '',
    });
    expect(plugins.map((p) => p.name)).toEqual(['docker', 'grid', 'slurm']);
    const runtime = await createRuntime({ plugins, store: new MemoryStore() });
    const warnings: string[] = [];
    runtime.events$.subscribe((e) => warnings.push(`${e.source}: ${e.message}`));
    const runner = runtime.runner('slurm');
    expect(runner?.placement).toBe('remote');
    expect(await runner?.identity({})).toBe('slurm:http://127.0.0.1:1:gpu:phys:');
    // A cluster that cannot be reached does not stop the program from starting: the janitor says so.
    expect(warnings.join('\n')).toMatch(/slurm\.janitor: runner slurm: could not look for orphaned jobs/);
    await runtime.close();
  });
});
