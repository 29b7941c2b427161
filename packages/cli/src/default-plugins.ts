import type { Plugin } from '@beamline/core';

/**
 * The plugins the `beamline` program loads, in registration order. The program bundles the official
 * plugins; this is the one place that lists them.
 */
export function defaultPlugins(): Plugin[] {
  // The Docker and grid plugins join here once their factories land (createDockerPlugin(), createGridPlugin()).
  return [];
}
