import type { EventSink, Plugin } from '@beamline/core';
import { createDockerClient } from '../client/docker-client.js';
import { DockerBuildCommand, DockerLoadCommand, DockerPullCommand } from '../images/image-commands.js';
import type { JanitorReport } from '../janitor/janitor.js';
import { DockerRunner, type DockerRunnerOptions } from '../runner/docker-runner.js';
import { DockerClientToken, DockerOptionsToken, DockerRunnerToken } from '../tokens.js';

/** Options of `createDockerPlugin`: the runner's options plus start-up behaviour. */
export interface DockerPluginOptions extends DockerRunnerOptions {
  /**
   * Run the janitor in the `start` hook (removes this owner's leftovers); default true. Its report, and
   * its failure when the daemon is down, go to the runtime's events (`runtime.events$`, source
   * `docker.janitor`); they never abort the start.
   */
  janitorOnStart?: boolean;
}

/**
 * Creates the Docker plugin: registers `DockerRunner` (runner `docker`, also under
 * {@link DockerRunnerToken}), the commands `docker.pull`, `docker.build` and `docker.load`, and runs the
 * janitor at start-up. The runtime's container builds them all around one dockerode client
 * ({@link DockerClientToken}); an application reaches the runner with `runtime.resolve(DockerRunnerToken)`.
 */
export function createDockerPlugin(options: DockerPluginOptions = {}): Plugin {
  let runner: DockerRunner | undefined;
  return {
    name: 'docker',
    register(registry) {
      registry.provide(DockerOptionsToken, options);
      registry.provide(DockerClientToken, options.docker ?? createDockerClient(options.connection));
      registry.provideClass(DockerRunnerToken, DockerRunner);
      registry.addRunner(DockerRunner);
      registry.addCommand(DockerPullCommand);
      registry.addCommand(DockerBuildCommand);
      registry.addCommand(DockerLoadCommand);
    },
    async start(context) {
      runner = context.resolve(DockerRunnerToken);
      if (options.janitorOnStart !== false) await runJanitorOnStart(runner, context.events);
    },
    async stop() {
      await runner?.dispose();
    },
  };
}

/** The start-up clean-up, reported as runtime events: a daemon that is down must not stop the runtime. */
async function runJanitorOnStart(runner: DockerRunner, events: EventSink): Promise<void> {
  const source = 'docker.janitor';
  let report: JanitorReport;
  try {
    report = await runner.janitor();
  } catch (error) {
    events.emit({
      level: 'warning',
      source,
      message: `could not look for leftover containers: ${error instanceof Error ? error.message : String(error)}`,
    });
    return;
  }
  const { removed, kept, reported, failed } = report;
  events.emit({
    level: failed.length > 0 || reported.length > 0 ? 'warning' : 'info',
    source,
    message:
      `removed ${removed.length} leftover container(s), kept ${kept.length} of live owners` +
      (reported.length > 0 ? `, ${reported.length} running on another host` : '') +
      (failed.length > 0 ? `, ${failed.length} could not be removed` : ''),
    details: { ...report },
  });
}
