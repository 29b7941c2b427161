import { readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import ignoreModule from '@balena/dockerignore';
import type Docker from 'dockerode';
import tar from 'tar-fs';
import { classifyApiError } from '../errors/classify-error.js';
import { DockerError } from '../errors/docker-error.js';
import { buildTags } from '../naming/image-ref.js';
import { ProgressFailure, readProgress, type ProgressMessage } from './progress.js';

/** Options of `buildImage`. */
export interface BuildOptions {
  /** Context folder (absolute); `.dockerignore` in it is honoured. */
  context: string;
  /** Dockerfile path relative to the context; default `Dockerfile`. */
  dockerfile?: string;
  /** Repository, e.g. `ghcr.io/lab/recon`; tagged `<repository>:<version>` and `<repository>:<YYYY-MM-DD>`. */
  repository: string;
  /** Version tag (never `latest`). */
  version: string;
  /** Build date for the date tag and `org.opencontainers.image.created`; default now. */
  date?: Date;
  buildArgs?: Record<string, string>;
  /** Extra image labels (ownership labels, model provenance). */
  labels?: Record<string, string>;
  /** `org.opencontainers.image.revision` / `.source`, when known. */
  revision?: string;
  source?: string;
  onProgress?: (message: ProgressMessage) => void;
  signal?: AbortSignal;
}

/** The result of `buildImage`. */
export interface BuildResult {
  id: string;
  tags: string[];
}

/**
 * Packs the whole context folder minus what `.dockerignore` excludes. dockerode's `{context, src}`
 * form would send only the listed files (pitfall 15). The Dockerfile and `.dockerignore` are always
 * sent, as the docker CLI does.
 */
async function packContext(context: string, dockerfile = 'Dockerfile'): Promise<NodeJS.ReadableStream> {
  let patterns: string[] = [];
  try {
    patterns = (await readFile(join(context, '.dockerignore'), 'utf8')).split(/\r?\n/);
  } catch {
    // No .dockerignore: send everything.
  }
  // The package is CommonJS with a `default` property; its types describe that property.
  const ig = ignoreModule.default({ ignorecase: false }).add(patterns);
  const keep = new Set([dockerfile.split(sep).join('/'), '.dockerignore']);
  return tar.pack(context, {
    ignore: (name: string) => {
      const rel = relative(context, name).split(sep).join('/');
      if (rel === '' || keep.has(rel)) return false;
      return ig.ignores(rel);
    },
  }) as unknown as NodeJS.ReadableStream;
}

/** "Step 2/3 : RUN exit 3" → "2/3 RUN exit 3" (classic builder). */
const STEP = /^Step (\d+\/\d+) : (.*)$/;

/**
 * Builds an image from a context folder and tags it with a version and the date, never `latest`. A
 * failed build is `DOCKER_BUILD_FAILED` with the step and the daemon's message, also when the failure
 * arrives inside an HTTP 200 stream (pitfall 5).
 */
export async function buildImage(docker: Docker, options: BuildOptions): Promise<BuildResult> {
  const date = options.date ?? new Date();
  const tags = buildTags(options.repository, options.version, date);
  const dockerfile = options.dockerfile ?? 'Dockerfile';
  const labels: Record<string, string> = {
    'org.opencontainers.image.version': options.version,
    'org.opencontainers.image.created': date.toISOString(),
    ...(options.revision ? { 'org.opencontainers.image.revision': options.revision } : {}),
    ...(options.source ? { 'org.opencontainers.image.source': options.source } : {}),
    ...options.labels,
  };
  const context = await packContext(options.context, dockerfile);
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.buildImage(context, {
      t: tags as unknown as string,
      dockerfile,
      labels,
      rm: true,
      forcerm: true,
      ...(options.buildArgs ? { buildargs: options.buildArgs } : {}),
      ...(options.signal ? { abortSignal: options.signal } : {}),
    });
  } catch (error) {
    const e = classifyApiError(error, 'other', { context: options.context });
    if (e.code === 'DOCKER_DAEMON_UNAVAILABLE') throw e;
    throw new DockerError('DOCKER_BUILD_FAILED', `build failed: ${e.message}`, {
      cause: error,
      details: e.details,
    });
  }
  let step: string | undefined;
  let id: string | undefined;
  try {
    await readProgress(stream, (m) => {
      const text = m.stream?.trim();
      const s = text === undefined ? null : STEP.exec(text);
      if (s) step = `${s[1]} ${s[2]}`;
      if (m.aux?.ID) id = m.aux.ID;
      const built = text === undefined ? null : /^Successfully built ([0-9a-f]+)$/.exec(text);
      if (built && id === undefined) id = built[1];
      options.onProgress?.(m);
    });
  } catch (error) {
    const message = error instanceof ProgressFailure ? error.message : String(error);
    throw new DockerError(
      'DOCKER_BUILD_FAILED',
      `build of ${tags[0] ?? options.repository} failed${step ? ` at step ${step}` : ''}: ${message}`,
      { cause: error, details: { step, message, tags } },
    );
  }
  if (id === undefined) {
    throw new DockerError('DOCKER_BUILD_FAILED', 'build ended without an image ID', { details: { tags } });
  }
  return { id, tags };
}
