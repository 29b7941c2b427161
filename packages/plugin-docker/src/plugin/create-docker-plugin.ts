import type { Plugin } from '@beamline/core';
import { createBuildCommand, createLoadCommand, createPullCommand } from '../images/image-commands.js';
import type { JanitorReport } from '../janitor/janitor.js';
import { DockerRunner, type DockerRunnerOptions } from '../runner/docker-runner.js';
import { DockerClientToken, DockerRunnerToken } from '../tokens.js';

/** Options of `createDockerPlugin`: the runner's options plus start-up behaviour. */
export interface DockerPluginOptions extends DockerRunnerOptions {
  /** Run the janitor in the `start` hook (removes this owner's leftovers); default true. */
  janitorOnStart?: boolean;
  /** Receives janitor reports (start-up and on demand); failures there never abort anything. */
  onJanitorReport?: (report: JanitorReport) => void;
  /** Receives janitor errors (daemon down at start-up); default: ignored, jobs report their own errors. */
  onJanitorError?: (error: unknown) => void;
}

/** The Docker plugin, with the runner exposed for on-demand clean-up. */
export interface DockerPlugin extends Plugin {
  readonly runner: DockerRunner;
  /** Runs the janitor now. */
  janitor(): Promise<JanitorReport>;
}

/**
 * Creates the Docker plugin: registers `DockerRunner` (runner `docker`), the commands `docker.pull`,
 * `docker.build` and `docker.load`, and runs the janitor at start-up. One dockerode client is shared by
 * all of them.
 */
export function createDockerPlugin(options: DockerPluginOptions = {}): DockerPlugin {
  const runner = new DockerRunner(options);
  const janitor = async (): Promise<JanitorReport> => {
    const report = await runner.janitor();
    options.onJanitorReport?.(report);
    return report;
  };
  return {
    name: 'docker',
    runner,
    janitor,
    register(registry) {
      registry.addRunner(runner);
      registry.addCommand(createPullCommand(runner.docker));
      registry.addCommand(createBuildCommand(runner.docker, runner.ownership));
      registry.addCommand(createLoadCommand(runner.docker));
      registry.provide(DockerRunnerToken, runner);
      registry.provide(DockerClientToken, runner.docker);
    },
    async start() {
      if (options.janitorOnStart === false) return;
      try {
        await janitor();
      } catch (error) {
        options.onJanitorError?.(error);
      }
    },
    async stop() {
      await runner.dispose();
    },
  };
}
