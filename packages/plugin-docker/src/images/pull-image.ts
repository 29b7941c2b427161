import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay } from '@beamline/core';
import type Docker from 'dockerode';
import { classifyApiError, classifyRegistryMessage, statusOf } from '../errors/classify-error.js';
import { DockerError, isDockerError } from '../errors/docker-error.js';
import { parseImageRef } from '../naming/image-ref.js';
import { Engine } from '../client/engine.js';
import { ProgressFailure, readProgress, type ProgressMessage } from './progress.js';

/** When to contact a registry: `never` (offline), `missing` (only when not present locally), `always`. */
export type PullPolicy = 'never' | 'missing' | 'always';

/** Options of `pullImage`. */
export interface PullOptions {
  policy?: PullPolicy;
  /** Extra attempts after a transient failure (registry unreachable); default 2. */
  retries?: number;
  /** First backoff delay, doubled per attempt (core's `backoffDelay`: ±25 % jitter, at most 30 s); default 1000 ms. */
  backoffMs?: number;
  onProgress?: (message: ProgressMessage) => void;
  signal?: AbortSignal;
  /** Registry credentials, as dockerode's `authconfig` (sent as `X-Registry-Auth`, never in the URL). */
  authconfig?: Docker.AuthConfig;
}

/** The result of `pullImage`. */
export interface PullResult {
  image: string;
  /** Local image ID (`sha256:…`). */
  id: string;
  /** Whether a registry was contacted. */
  pulled: boolean;
}

/** Registry hiccups pass within seconds; a pull that still fails after half a minute has another cause. */
const PULL_BACKOFF = { coefficient: 2, maxDelayMs: 30_000, jitter: 0.25 } as const;

async function localId(engine: Engine, image: string): Promise<string | undefined> {
  try {
    return (await engine.inspectImage(image)).Id;
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw classifyApiError(error, 'other', { image });
  }
}

async function pullOnce(docker: Docker, image: string, options: PullOptions): Promise<void> {
  let stream: NodeJS.ReadableStream;
  try {
    // dockerode resolves when the pull *starts*; the outcome is only known at the end of the stream.
    stream = await docker.pull(image, {
      ...(options.authconfig ? { authconfig: options.authconfig } : {}),
      ...(options.signal ? { abortSignal: options.signal } : {}),
    });
  } catch (error) {
    throw classifyApiError(error, 'pull', { image });
  }
  try {
    await readProgress(stream, options.onProgress);
  } catch (error) {
    if (error instanceof ProgressFailure) {
      throw new DockerError(
        classifyRegistryMessage(error.message),
        `pull of ${image} failed: ${error.message}`,
        {
          cause: error,
          details: { image, daemonMessage: error.message },
        },
      );
    }
    throw classifyApiError(error, 'pull', { image });
  }
}

/**
 * Makes an image available according to the pull policy. `missing` never contacts a registry when the
 * image is present. Untagged and `latest` references are refused. Transient registry failures are
 * retried with exponential backoff; every failure, also one reported inside the progress stream, is a
 * typed error with the daemon's message.
 */
export async function pullImage(
  docker: Docker,
  image: string,
  options: PullOptions = {},
): Promise<PullResult> {
  parseImageRef(image);
  const engine = new Engine(docker);
  const policy = options.policy ?? 'missing';
  if (policy !== 'always') {
    const id = await localId(engine, image);
    if (id !== undefined) return { image, id, pulled: false };
    if (policy === 'never') {
      throw new DockerError(
        'DOCKER_IMAGE_NOT_FOUND',
        `image ${image} is not present and the pull policy is "never"`,
        {
          details: { image },
        },
      );
    }
  }
  const retries = options.retries ?? 2;
  const backoff = options.backoffMs ?? 1000;
  for (let attempt = 0; ; attempt++) {
    try {
      await pullOnce(docker, image, options);
      break;
    } catch (error) {
      if (!isDockerError(error) || !error.retryable || attempt >= retries || options.signal?.aborted)
        throw error;
      const delay = backoffDelay({ ...PULL_BACKOFF, initialDelayMs: backoff }, attempt + 1);
      await sleep(delay, undefined, options.signal ? { signal: options.signal } : {});
    }
  }
  const id = await localId(engine, image);
  if (id === undefined) {
    throw new DockerError('DOCKER_PULL_FAILED', `pull of ${image} ended without the image being present`, {
      details: { image },
    });
  }
  return { image, id, pulled: true };
}
