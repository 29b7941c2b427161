import { isAbsolute, resolve } from 'node:path';
import type { Command, CommandContext, StepEvent, StepOutputs } from '@beamline/core';
import type Docker from 'dockerode';
import { Observable } from 'rxjs';
import { z } from 'zod';
import { jobLabels, labelKeys, type Ownership } from '../naming/labels.js';
import { buildImage } from './build-image.js';
import { loadImage } from './load-image.js';
import type { ProgressMessage } from './progress.js';
import { pullImage } from './pull-image.js';

/** Runs promise-based image work as a cold step stream: cancelled by `ctx.signal` or by unsubscribing. */
function imageStep(
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
function progressEvents(emit: (event: StepEvent) => void): (m: ProgressMessage) => void {
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
      const text = (m.stream ?? (m.status === undefined ? '' : `${m.id ? `${m.id}: ` : ''}${m.status}`)).trimEnd();
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

const inWorkdir = (ctx: CommandContext, path: string): string => (isAbsolute(path) ? path : resolve(ctx.workdir, path));

/** `docker.pull`: makes an image available by policy; outputs `{ image, id, pulled }`. */
export function createPullCommand(docker: Docker): Command<PullParams> {
  return {
    name: 'docker.pull',
    version: '1',
    description: 'Pull an image (policy never | missing | always, retries, progress)',
    params: pullParams,
    runnerIdentity: () => null,
    execute: (ctx, p) =>
      imageStep(ctx, async (emit, signal) => {
        const r = await pullImage(docker, p.image, {
          policy: p.policy,
          retries: p.retries,
          signal,
          onProgress: progressEvents(emit),
        });
        return { image: r.image, id: r.id, pulled: r.pulled };
      }),
  };
}

/** `docker.build`: builds a context folder, tagged `<repository>:<version>` and `:<date>`; outputs `{ id, tags }`. */
export function createBuildCommand(docker: Docker, ownership: Ownership): Command<BuildParams> {
  return {
    name: 'docker.build',
    version: '1',
    description: 'Build an image from a context folder (.dockerignore honoured), tagged with version and date',
    params: buildParams,
    runnerIdentity: () => null,
    execute: (ctx, p) =>
      imageStep(ctx, async (emit, signal) => {
        const k = labelKeys(ownership.namespace);
        const owned = jobLabels({
          ownership,
          process: { session: '', host: '', pid: 0, pidStart: '' },
          jobId: ctx.stepId,
          step: ctx.stepId,
          run: ctx.runId,
          extra: ctx.labels,
        });
        // Images keep the ownership and run/step labels only; process labels describe containers.
        const labels = Object.fromEntries(
          Object.entries(owned).filter(([key]) => ![k.session, k.host, k.pid, k.pidStart, k.jobId].includes(key as never)),
        );
        const r = await buildImage(docker, {
          context: inWorkdir(ctx, p.context),
          repository: p.repository,
          version: p.version,
          labels: { ...labels, ...p.labels },
          signal,
          onProgress: progressEvents(emit),
          ...(p.dockerfile === undefined ? {} : { dockerfile: p.dockerfile }),
          ...(p.buildArgs === undefined ? {} : { buildArgs: p.buildArgs }),
          ...(p.revision === undefined ? {} : { revision: p.revision }),
          ...(p.source === undefined ? {} : { source: p.source }),
        });
        return { id: r.id, tags: r.tags };
      }),
  };
}

/** `docker.load`: loads a `docker save` tar; outputs `{ images }`. */
export function createLoadCommand(docker: Docker): Command<LoadParams> {
  return {
    name: 'docker.load',
    version: '1',
    description: 'Load images from a docker save tar',
    params: loadParams,
    runnerIdentity: () => null,
    execute: (ctx, p) =>
      imageStep(ctx, async (emit, signal) => {
        const r = await loadImage(docker, inWorkdir(ctx, p.file), { signal, onProgress: progressEvents(emit) });
        return { images: r.images };
      }),
  };
}
