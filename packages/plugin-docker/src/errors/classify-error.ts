import { DockerError, isDockerError, type DockerErrorCode } from './docker-error.js';

/** What docker-modem attaches to a failed request. */
interface ModemError {
  statusCode?: number;
  code?: string;
  message: string;
  json?: unknown;
}

/** The daemon's own message, without docker-modem's misleading "(HTTP code 404) no such container -" prefix. */
export function daemonMessage(error: unknown): string {
  const e = error as ModemError;
  const json = e.json as { message?: unknown } | undefined;
  if (json !== null && typeof json === 'object' && typeof json.message === 'string') return json.message;
  const text = typeof e.message === 'string' ? e.message : String(error);
  return text.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim();
}

/** HTTP status of a failed Engine API call, if it got that far. */
export function statusOf(error: unknown): number | undefined {
  const status = (error as ModemError | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

const DAEMON_DOWN = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'EACCES',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ETIMEDOUT',
]);

/** Registry failures that are about reaching it, not about the image (those are not retryable). */
const REGISTRY_UNREACHABLE =
  /connection refused|no such host|i\/o timeout|tls handshake timeout|network is unreachable|dial tcp|connection reset|server misbehaving|timeout exceeded|EOF$/i;

/** Classifies a registry (pull) failure message. */
export function classifyRegistryMessage(message: string): DockerErrorCode {
  if (/manifest unknown|not found|does not exist|pull access denied|repository .* not found/i.test(message)) {
    return 'DOCKER_IMAGE_NOT_FOUND';
  }
  if (REGISTRY_UNREACHABLE.test(message)) return 'DOCKER_REGISTRY_UNREACHABLE';
  return 'DOCKER_PULL_FAILED';
}

/** Where in the lifecycle the error happened; the same status means different things at each point. */
export type ApiPhase = 'create' | 'start' | 'pull' | 'other';

/**
 * Turns a dockerode/docker-modem error into a typed `DockerError`, by status code plus message:
 * dockerode calls every 404 "no such container", even a missing image (pitfall 14).
 */
export function classifyApiError(
  error: unknown,
  phase: ApiPhase,
  context: Record<string, unknown> = {},
): DockerError {
  if (isDockerError(error)) return error;
  const status = statusOf(error);
  const message = daemonMessage(error);
  const details = { ...context, ...(status === undefined ? {} : { status }), daemonMessage: message };
  const make = (code: DockerErrorCode, text: string): DockerError =>
    new DockerError(code, text, { cause: error, details });

  const sysCode = (error as ModemError | null)?.code;
  if (status === undefined && typeof sysCode === 'string' && DAEMON_DOWN.has(sysCode)) {
    return make('DOCKER_DAEMON_UNAVAILABLE', `Docker daemon unavailable (${sysCode}): ${message}`);
  }
  if (/no such image/i.test(message) || (phase === 'pull' && status === 404)) {
    return make('DOCKER_IMAGE_NOT_FOUND', `image not found: ${message}`);
  }
  if (/bind source path does not exist|invalid mount config.*not exist/i.test(message)) {
    return make('DOCKER_MOUNT_SOURCE_MISSING', `mount source missing: ${message}`);
  }
  if (
    /could not select device driver|nvidia-container-cli|unknown or invalid runtime name: nvidia/i.test(
      message,
    )
  ) {
    return make('DOCKER_GPU_UNAVAILABLE', `GPU requested but not available on this Docker host: ${message}`);
  }
  if (status === 409 && phase === 'create') {
    return make('DOCKER_NAME_CONFLICT', `container name already in use: ${message}`);
  }
  if (/no command specified/i.test(message)) {
    return make('DOCKER_NO_COMMAND', `the image has no default command and none was given: ${message}`);
  }
  if (phase === 'pull') return make(classifyRegistryMessage(message), `pull failed: ${message}`);
  if (phase === 'start' && status !== undefined) {
    return make('DOCKER_START_FAILED', `container failed to start: ${message}`);
  }
  if (phase === 'create' && status === 400)
    return make('DOCKER_SPEC_INVALID', `the daemon refused the spec: ${message}`);
  return make('DOCKER_API_ERROR', `Docker API error${status === undefined ? '' : ` ${status}`}: ${message}`);
}
