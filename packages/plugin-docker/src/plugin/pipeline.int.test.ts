import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime, MemoryStore, type PipelineDefinition, type Runtime } from '@beamline/core';
import { requireService } from '@beamline/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupByLabel,
  containersWith,
  dockerAvailable,
  TEST_IMAGE,
  TEST_PROJECT,
} from '../../test/engine.js';
import { createDockerPlugin } from './create-docker-plugin.js';

const available = requireService(
  'docker',
  await dockerAvailable(),
  'Run packages/plugin-docker/scripts/setup-test-env.sh as root.',
);

// The plugin as users meet it: image commands and the docker runner as steps of a pipeline run by the core.
const pipeline: PipelineDefinition = {
  name: 'docker-pipeline',
  steps: {
    base: { uses: 'docker.pull', with: { image: TEST_IMAGE, policy: 'missing' } },
    build: { uses: 'docker.build', with: { context: 'ctx', repository: 'bl-test/pipeline', version: '1.0' } },
    greet: {
      uses: 'exec',
      runner: 'docker',
      with: {
        image: '${{ steps.build.outputs.tags[0] }}',
        command: 'mkdir -p out && cat /greeting.txt > out/greeting.txt && echo "::metric lines=1"',
        outputs: { greeting: 'out/greeting.txt' },
      },
    },
  },
};

describe.skipIf(!available)('docker commands and the docker runner in a pipeline', () => {
  let cwd: string;
  let runtime: Runtime;

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'bl-pipeline-'));
    await mkdir(join(cwd, 'ctx'));
    await writeFile(join(cwd, 'ctx', 'Dockerfile'), `FROM ${TEST_IMAGE}\nCOPY greeting.txt /greeting.txt\n`);
    await writeFile(join(cwd, 'ctx', 'greeting.txt'), 'hello from the image\n');
    runtime = await createRuntime({
      cwd,
      store: new MemoryStore(),
      plugins: [createDockerPlugin({ project: TEST_PROJECT })],
    });
  });

  afterAll(async () => {
    await runtime.close();
    await cleanupByLabel(TEST_PROJECT, true);
    await rm(cwd, { recursive: true, force: true });
  });

  it('builds an image, runs a step in it, collects its output, and leaves no container', async () => {
    const handle = await runtime.run(pipeline);
    const result = await handle.done;
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(result.steps.base?.outputs?.pulled).toBe(false);
    const tags = result.steps.build?.outputs?.tags as string[];
    expect(tags[0]).toBe('bl-test/pipeline:1.0');
    expect(tags.some((tag) => tag.endsWith(':latest'))).toBe(false);
    expect(await readFile(join(cwd, 'out', 'greeting.txt'), 'utf8')).toBe('hello from the image\n');
    expect(result.steps.greet?.artifacts?.[0]?.name).toBe('greeting');
    // The image's ID is the runner part of the step's key: a rebuilt image re-runs the step.
    expect(result.steps.greet?.keyParts?.runner).toMatch(/^docker:sha256:[0-9a-f]{64}$/);
    const left = await containersWith(`io.beamline.project=${TEST_PROJECT}`);
    expect(left.map((c) => `${c.Names.join(',')} ${c.State} ${c.Image} ${JSON.stringify(c.Labels)}`)).toEqual(
      [],
    );
  });

  it('serves an unchanged pipeline from the cache without touching the engine', async () => {
    const result = await (await runtime.run(pipeline)).done;
    expect(Object.values(result.steps).map((step) => step.status)).toEqual(['cached', 'cached', 'cached']);
  });
});
