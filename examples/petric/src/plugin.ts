import type { Plugin } from '@beamline/core';
import { DockerClientToken } from '@beamline/plugin-docker';
import { createEvaluateCommand, type DockerAccess } from './run/evaluate-command.js';

/**
 * The PETRIC plugin: the `petric.evaluate` command. When the Docker plugin is loaded too, its client
 * freezes a submission's container (`docker pause`) while metrics are computed.
 */
export function createPetricPlugin(): Plugin {
  const access: DockerAccess = {};
  return {
    name: 'petric',
    register(registry) {
      registry.addCommand(createEvaluateCommand(access));
    },
    start(context) {
      try {
        access.docker = context.resolve(DockerClientToken);
      } catch {
        // No Docker plugin: submissions run as local processes, frozen with SIGSTOP.
      }
      return Promise.resolve();
    },
  };
}
