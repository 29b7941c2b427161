import { createReadStream } from 'node:fs';
import type Docker from 'dockerode';
import { classifyApiError, daemonMessage } from '../errors/classify-error.js';
import { DockerError } from '../errors/docker-error.js';
import { ProgressFailure, readProgress, type ProgressMessage } from './progress.js';

/** The result of `loadImage`: the references (or IDs) the daemon reported as loaded. */
export interface LoadResult {
  images: string[];
}

const LOADED = /^Loaded image(?: ID)?: (\S+)$/;

/**
 * Loads images from a `docker save` tar (a path or a stream). Failures, also those reported inside the
 * progress stream ("Error processing tar file"), are `DOCKER_LOAD_FAILED` with the daemon's message;
 * a load that reports no image at all is a failure too.
 */
export async function loadImage(
  docker: Docker,
  tar: string | NodeJS.ReadableStream,
  options: { onProgress?: (message: ProgressMessage) => void; signal?: AbortSignal } = {},
): Promise<LoadResult> {
  const input = typeof tar === 'string' ? createReadStream(tar) : tar;
  const images: string[] = [];
  try {
    const stream = await docker.loadImage(input, {
      quiet: false,
      ...(options.signal ? { abortSignal: options.signal } : {}),
    });
    await readProgress(stream, (m) => {
      const hit = m.stream === undefined ? null : LOADED.exec(m.stream.trim());
      if (hit?.[1] !== undefined) images.push(hit[1]);
      options.onProgress?.(m);
    });
  } catch (error) {
    if (error instanceof ProgressFailure) {
      throw new DockerError('DOCKER_LOAD_FAILED', `load failed: ${error.message}`, {
        cause: error,
        details: { daemonMessage: error.message },
      });
    }
    const e = classifyApiError(error, 'other');
    if (e.code === 'DOCKER_DAEMON_UNAVAILABLE') throw e;
    throw new DockerError('DOCKER_LOAD_FAILED', `load failed: ${daemonMessage(error)}`, {
      cause: error,
      details: e.details,
    });
  }
  if (images.length === 0) throw new DockerError('DOCKER_LOAD_FAILED', 'load reported no image');
  return { images };
}
