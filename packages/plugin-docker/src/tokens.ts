import { createToken } from '@beamline/core';
import type Docker from 'dockerode';
import type { DockerRunner } from './runner/docker-runner.js';

/** The Docker runner the plugin registered, for other plugins (e.g. a service plugin that runs containers). */
export const DockerRunnerToken = createToken<DockerRunner>('beamline.docker.runner');
/** The shared dockerode client (no request timeout), for plugins that talk to the same daemon. */
export const DockerClientToken = createToken<Docker>('beamline.docker.client');
