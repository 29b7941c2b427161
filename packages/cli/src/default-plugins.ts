import type { Plugin } from '@beamline/core';
import { createDockerPlugin } from '@beamline/plugin-docker';
import { createGridPlugin } from '@beamline/plugin-grid';
import { createSlurmPlugin } from '@beamline/plugin-slurm';

/**
 * The plugins the `beamline` program loads, in registration order. The program bundles the official
 * plugins; this is the one place that lists them. The Docker plugin needs no engine until a step
 * uses `runner: docker` (its start-up janitor tolerates a missing daemon). The Slurm plugin is loaded
 * only when the environment names a slurmrestd (`BEAMLINE_SLURM_URL`; the token comes from `SLURM_JWT`,
 * as `scontrol token` prints it), so the program needs no cluster otherwise.
 */
export function defaultPlugins(env: NodeJS.ProcessEnv = process.env): Plugin[] {
  const plugins = [createDockerPlugin(), createGridPlugin()];
  const url = env.BEAMLINE_SLURM_URL;
  if (url !== undefined && url !== '') {
    const setting = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
    const partition = setting('BEAMLINE_SLURM_PARTITION');
    const account = setting('BEAMLINE_SLURM_ACCOUNT');
    const qos = setting('BEAMLINE_SLURM_QOS');
    const project = setting('BEAMLINE_PROJECT');
    plugins.push(
      createSlurmPlugin({
        url,
        ...(partition === undefined ? {} : { partition }),
        ...(account === undefined ? {} : { account }),
        ...(qos === undefined ? {} : { qos }),
        ...(project === undefined ? {} : { project }),
      }),
    );
  }
  return plugins;
}
