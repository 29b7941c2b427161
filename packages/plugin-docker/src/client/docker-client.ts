import Docker from 'dockerode';

/** How to reach the daemon; omitted fields follow `DOCKER_HOST` like the docker CLI. */
export interface DockerConnectionOptions {
  socketPath?: string;
  host?: string;
  port?: number | string;
  protocol?: 'http' | 'https' | 'ssh';
  /** Engine API version to pin (e.g. `v1.41`); default: the daemon's. */
  version?: string;
}

/**
 * Creates the dockerode client used for jobs. There is deliberately no request timeout: docker-modem's
 * `timeout` is an idle-socket timeout on every request, so a quiet job's wait or log stream would be
 * cut (pitfall 7). That also covers `DOCKER_CLIENT_TIMEOUT` in the environment, which docker-modem
 * would otherwise pick up. Job time limits are the runner's own timers.
 */
export function createDockerClient(options: DockerConnectionOptions = {}): Docker {
  const docker = new Docker(options);
  (docker.modem as { timeout?: number | undefined }).timeout = undefined;
  return docker;
}

/** True when the client talks to a daemon on this host (a unix socket), so host paths can be checked locally. */
export function isLocalDaemon(docker: Docker): boolean {
  const modem = docker.modem as { socketPath?: unknown; host?: unknown };
  return modem.host === undefined && modem.socketPath !== undefined;
}
