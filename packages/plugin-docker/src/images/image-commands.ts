import { isAbsolute, resolve } from 'node:path';
import {
  inject,
  injectable,
  type Command,
  type CommandContext,
  type StepEvent,
  type StepOutputs,
} from '@beamline/core';
import type Docker from 'dockerode';
import { Observable } from 'rxjs';
import { z } from 'zod';
import { jobLabels, labelKeys, type Ownership } from '../naming/labels.js';
import type { DockerRunner } from '../runner/docker-runner.js';
import { DockerClientToken, DockerRunnerToken } from '../tokens.js';
import { buildImage } from './build-image.js';
import { loadImage } from './load-image.js';
import type { ProgressMessage } from './progress.js';
import { pullImage } from './pull-image.js';

/** Runs promise-based image work as a cold step stream: cancelled by `ctx.signal` or by unsubscribing. */
export function imageStep(
  ctx: CommandContext,
  work: (emit: (event: StepEvent) => void, signal: AbortSignal) => Promise<StepOutputs>,
): Observable<StepEvent> {
  return new Observable<StepEvent>((subscriber) => {
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(ctx.signal.reason);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    if (ctx.signal.aborted) controller.abort(ctx.signal.reason);
    work((e) => subscriber.next(e), controller.signal).then(
      (outputs) => {
        subscriber.next({ type: 'outputs', outputs });
        subscriber.complete();
      },
      (error: unknown) => subscriber.error(error),
    );
    return () => {
      ctx.signal.removeEventListener('abort', onAbort);
      controller.abort();
    };
  });
}

/** Turns progress messages into step events: byte progress where the daemon reports it, text otherwise. */
export function progressEvents(emit: (event: StepEvent) => void): (m: ProgressMessage) => void {
  return (m) => {
    const detail = m.progressDetail;
    if (detail?.current !== undefined) {
      emit({
        type: 'progress',
        current: detail.current,
        ...(detail.total === undefined ? {} : { total: detail.total }),
        message: `${m.id ?? ''} ${m.status ?? ''}`.trim(),
      });
    } else {
      const text = (
        m.stream ?? (m.status === undefined ? '' : `${m.id ? `${m.id}: ` : ''}${m.status}`)
      ).trimEnd();
      if (text !== '') emit({ type: 'log', stream: 'system', text });
    }
  };
}

const pullParams = z.strictObject({
  image: z.string().min(1),
  policy: z.enum(['never', 'missing', 'always']).default('missing'),
  retries: z.number().int().nonnegative().default(2),
});
const buildParams = z.strictObject({
  /** Context folder, relative to the run's working directory. */
  context: z.string().min(1),
  dockerfile: z.string().min(1).optional(),
  repository: z.string().min(1),
  version: z.string().min(1),
  buildArgs: z.record(z.string(), z.string()).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  revision: z.string().optional(),
  source: z.string().optional(),
});
const loadParams = z.strictObject({
  /** A `docker save` tar, relative to the run's working directory. */
  file: z.string().min(1),
});

/** Parameters of `docker.pull`. */
export type PullParams = z.output<typeof pullParams>;
/** Parameters of `docker.build`. */
export type BuildParams = z.output<typeof buildParams>;
/** Parameters of `docker.load`. */
export type LoadParams = z.output<typeof loadParams>;

const inWorkdir = (ctx: CommandContext, path: string): string =>
  isAbsolute(path) ? path : resolve(ctx.workdir, path);

/** `docker.pull`: makes an image available by policy; outputs `{ image, id, pulled }`. */
@injectable()
export class DockerPullCommand implements Command<PullParams> {
  readonly name = 'docker.pull';
  readonly version = '1';
  readonly description = 'Pull an image (policy never | missing | always, retries, progress)';
  readonly params = pullParams;

  constructor(@inject(DockerClientToken) private readonly docker: Docker) {}

  /** Talks to the daemon itself: where the step would run does not matter. */
  runnerIdentity(): null {
    return null;
  }

  execute(ctx: CommandContext, p: PullParams): Observable<StepEvent> {
    return imageStep(ctx, async (emit, signal) => {
      const r = await pullImage(this.docker, p.image, {
        policy: p.policy,
        retries: p.retries,
        signal,
        onProgress: progressEvents(emit),
      });
      return { image: r.image, id: r.id, pulled: r.pulled };
    });
  }
}

/** `docker.build`: builds a context folder, tagged `<repository>:<version>` and `:<date>`; outputs `{ id, tags }`. */
@injectable()
export class DockerBuildCommand implements Command<BuildParams> {
  readonly name = 'docker.build';
  readonly version = '1';
  readonly description =
    'Build an image from a context folder (.dockerignore honoured), tagged with version and date';
  readonly params = buildParams;

  /** The runner's client and ownership labels: images carry the same owner as the containers. */
  constructor(@inject(DockerRunnerToken) private readonly runner: DockerRunner) {}

  runnerIdentity(): null {
    return null;
  }

  execute(ctx: CommandContext, p: BuildParams): Observable<StepEvent> {
    const { docker, ownership } = this.runner;
    return imageStep(ctx, async (emit, signal) => {
      const r = await buildImage(docker, {
        context: inWorkdir(ctx, p.context),
        repository: p.repository,
        version: p.version,
        labels: { ...imageLabels(ctx, ownership), ...p.labels },
        signal,
        onProgress: progressEvents(emit),
        ...(p.dockerfile === undefined ? {} : { dockerfile: p.dockerfile }),
        ...(p.buildArgs === undefined ? {} : { buildArgs: p.buildArgs }),
        ...(p.revision === undefined ? {} : { revision: p.revision }),
        ...(p.source === undefined ? {} : { source: p.source }),
      });
      return { id: r.id, tags: r.tags };
    });
  }
}

/** `docker.load`: loads a `docker save` tar; outputs `{ images }`. */
@injectable()
export class DockerLoadCommand implements Command<LoadParams> {
  readonly name = 'docker.load';
  readonly version = '1';
  readonly description = 'Load images from a docker save tar';
  readonly params = loadParams;

  constructor(@inject(DockerClientToken) private readonly docker: Docker) {}

  runnerIdentity(): null {
    return null;
  }

  execute(ctx: CommandContext, p: LoadParams): Observable<StepEvent> {
    return imageStep(ctx, async (emit, signal) => {
      const r = await loadImage(this.docker, inWorkdir(ctx, p.file), {
        signal,
        onProgress: progressEvents(emit),
      });
      return { images: r.images };
    });
  }
}

/** Images keep the ownership and run/step labels only; process labels describe containers. */
function imageLabels(ctx: CommandContext, ownership: Ownership): Record<string, string> {
  const k = labelKeys(ownership.namespace);
  const owned = jobLabels({
    ownership,
    process: { session: '', host: '', pid: 0 },
    jobId: ctx.stepId,
    step: ctx.stepId,
    run: ctx.runId,
    extra: ctx.labels,
  });
  const processKeys: readonly string[] = [k.session, k.host, k.pid, k.pidStart, k.bootId, k.jobId];
  return Object.fromEntries(Object.entries(owned).filter(([key]) => !processKeys.includes(key)));
}
