import type { Plugin } from '@beamline/core';
import { createDockerPlugin } from '@beamline/plugin-docker';
import { createGridPlugin } from '@beamline/plugin-grid';

/**
 * The plugins the `beamline` program loads, in registration order. The program bundles the official
 * plugins; this is the one place that lists them. The Docker plugin needs no engine until a step
 * uses `runner: docker` (its start-up janitor tolerates a missing daemon).
 */
export function defaultPlugins(): Plugin[] {
  return [createDockerPlugin(), createGridPlugin()];
}
