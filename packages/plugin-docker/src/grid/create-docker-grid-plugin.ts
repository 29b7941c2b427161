import type { Plugin } from '@beamline/core';
import { LoadArchiveCommand } from './load-archive-command.js';

/**
 * The Docker plugin's bridge to grid storage: registers `docker.load-archive`, which loads `docker save`
 * archives from grid storage. It depends on both plugins and gets their services injected by token: the
 * Docker plugin's client and the grid plugin's downloader.
 *
 * @example
 * ```ts
 * const runtime = await createRuntime({
 *   plugins: [createDockerPlugin(), createGridPlugin({ defaults: { cacheDir } }), createDockerGridPlugin()],
 * });
 * ```
 */
export function createDockerGridPlugin(): Plugin {
  return {
    name: 'docker-grid',
    dependencies: ['docker', 'grid'],
    register(registry) {
      registry.addCommand(LoadArchiveCommand);
    },
  };
}
