import { describe, expect, it } from 'vitest';
import { classifyApiError } from './classify-error.js';
import { DockerError, isDockerError } from './docker-error.js';

const modem = (statusCode: number | undefined, message: string, code?: string): Error =>
  Object.assign(new Error(`(HTTP code ${statusCode}) no such container - ${message} `), {
    statusCode,
    json: { message },
    code,
  });

describe('classifyApiError', () => {
  it.each([
    [404, 'No such image: a/b:1', 'create', 'DOCKER_IMAGE_NOT_FOUND', false],
    [409, 'Conflict. The container name "/x" is already in use', 'create', 'DOCKER_NAME_CONFLICT', false],
    [400, 'No command specified', 'create', 'DOCKER_NO_COMMAND', false],
    [
      400,
      'invalid mount config for type "bind": bind source path does not exist: /x',
      'create',
      'DOCKER_MOUNT_SOURCE_MISSING',
      false,
    ],
    [
      500,
      'could not select device driver "" with capabilities: [[gpu]]',
      'start',
      'DOCKER_GPU_UNAVAILABLE',
      false,
    ],
    [
      400,
      'OCI runtime create failed: exec: "/nonexistent": no such file',
      'start',
      'DOCKER_START_FAILED',
      false,
    ],
    [
      500,
      'Get "https://localhost:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused',
      'pull',
      'DOCKER_REGISTRY_UNREACHABLE',
      true,
    ],
    [404, 'pull access denied for x, repository does not exist', 'pull', 'DOCKER_IMAGE_NOT_FOUND', false],
  ] as const)('%i %s (%s) → %s', (status, message, phase, code, retryable) => {
    const e = classifyApiError(modem(status, message), phase);
    expect(e.code).toBe(code);
    expect(e.retryable).toBe(retryable);
    expect(e.message).not.toMatch(/no such container/);
    expect(e.details.daemonMessage).toBe(message);
  });

  it('reports a dead socket as DAEMON_UNAVAILABLE (retryable)', () => {
    const e = classifyApiError(
      Object.assign(new Error('connect ENOENT /var/run/docker.sock'), { code: 'ENOENT' }),
      'create',
    );
    expect(e).toMatchObject({ code: 'DOCKER_DAEMON_UNAVAILABLE', retryable: true });
  });

  it('has a guard that checks shape and code', () => {
    const e = new DockerError('DOCKER_OOM_KILLED', 'x');
    expect(isDockerError(e)).toBe(true);
    expect(isDockerError(e, 'DOCKER_OOM_KILLED')).toBe(true);
    expect(isDockerError(e, 'DOCKER_TIMED_OUT')).toBe(false);
    expect(isDockerError(new Error('x'))).toBe(false);
  });
});
