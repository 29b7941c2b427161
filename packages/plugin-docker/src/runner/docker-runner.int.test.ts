import { requireService, runnerContractSuite } from '@beamline/core/testing';
import { it } from 'vitest';
import { DockerRunner } from './docker-runner.js';
import { cleanupByLabel, dockerAvailable, TEST_IMAGE, TEST_PROJECT } from '../../test/engine.js';

const available = requireService(
  'docker',
  await dockerAvailable(),
  'Run packages/plugin-docker/scripts/setup-test-env.sh as root.',
);

if (available) {
  let runner: DockerRunner | undefined;
  runnerContractSuite('DockerRunner', {
    create: () => (runner = new DockerRunner({ project: TEST_PROJECT, image: TEST_IMAGE })),
    image: TEST_IMAGE,
    cwd: '/tmp',
    isGone: async (started) => {
      const { Engine } = await import('../client/engine.js');
      try {
        await new Engine(runner!.docker).inspectContainer(started.containerId ?? '');
        return false;
      } catch {
        return true;
      }
    },
    dispose: async () => {
      await runner?.dispose();
      await cleanupByLabel();
    },
  });
} else {
  it.skip('DockerRunner contract (no Docker engine here)', () => {});
}
