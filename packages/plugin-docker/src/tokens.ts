import { createToken } from '@beamline/core';
import type Docker from 'dockerode';
import type { DockerPluginOptions } from './plugin/create-docker-plugin.js';
import type { DockerRunner } from './runner/docker-runner.js';

/**
 * The Docker runner the plugin registered (runner `docker`), for applications (`runtime.resolve`) and
 * for other plugins' classes (`@inject(DockerRunnerToken)`): a service plugin that runs containers, a
 * worker, the CLI's `beamline container`.
 */
export const DockerRunnerToken = createToken<DockerRunner>('beamline.docker.runner');
/** The shared dockerode client (no request timeout), for plugins that talk to the same daemon. */
export const DockerClientToken = createToken<Docker>('beamline.docker.client');
/** The options `createDockerPlugin` was given; the runner is built from them. */
export const DockerOptionsToken = createToken<DockerPluginOptions>('beamline.docker.options');
