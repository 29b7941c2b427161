import {
  ExecCommand,
  defineCommand,
  type CommandContext,
  type Plugin,
  type Runner,
  type StepEvent,
  type StepOutputs,
} from '@beamline/core';
import { GridDownloadCommand, aliceAodFileSchema, type GridPluginOptions } from '@beamline/plugin-grid';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { concat, defer, Observable, of, type Subscription } from 'rxjs';
import { z } from 'zod';
import type { AliceClient } from '../client/alice-client.js';
import { TaskStatus, type MachineStatus } from '../client/wire.js';
import { StageLogs, StageUploader, type ResultSpec } from './stage-uploads.js';
import { withRetries } from './with-retries.js';

const resultSpecSchema = z.object({
  dir: z.string().min(1),
  ext: z.string().min(1),
  type: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  description: z.string(),
});

const stageParams = z
  .object({
    taskId: z.number().int().nonnegative(),
    /** Log name of the stage (`pdi_train` gives `pdi_train_out.log` and `pdi_train_err.log`). */
    stage: z.string().regex(/^[A-Za-z0-9_-]+$/),
    /** Where the two log files are written before upload. */
    logDir: z.string().min(1),
    command: z.union([z.string().min(1), z.array(z.string()).min(1)]),
    env: z.record(z.string(), z.string()).optional(),
    results: z.array(resultSpecSchema).default([]),
    /** Run in a container (the step's runner must be `docker`): the image and the host folders to mount. */
    container: z
      .object({
        image: z.string().min(1),
        mounts: z.array(z.object({ source: z.string().startsWith('/'), readOnly: z.boolean() }).strict()),
      })
      .strict()
      .optional(),
  })
  .strict();

const downloadParams = z
  .object({
    taskId: z.number().int().nonnegative(),
    stage: z.string().regex(/^[A-Za-z0-9_-]+$/),
    logDir: z.string().min(1),
    aods: z.array(aliceAodFileSchema),
    /** Destination of the AODs, relative to the task folder. */
    dest: z.string().min(1),
    /** The list of local paths the producer reads (the original's `local_list.txt`). */
    listFile: z.string().min(1),
  })
  .strict();

const statusParams = z
  .object({
    taskId: z.number().int().nonnegative(),
    status: z.union([z.literal(TaskStatus.Benchmarking), z.literal(TaskStatus.Completed)]),
  })
  .strict();

/** What the plugin needs: the client, and the grid options for the AOD download. */
export interface AliceTraintPluginOptions {
  readonly client: AliceClient;
  readonly grid: GridPluginOptions;
}

/**
 * The agent's commands: `alicetraint.stage` (a stage process whose two logs and whose results are
 * uploaded as part of the step: the step succeeds only once they are), `alicetraint.download` (the
 * task's AODs through `grid.download`, with its logs uploaded likewise) and `alicetraint.status`
 * (posts `Benchmarking` or `Completed`, retried).
 */
export function createAliceTraintPlugin(options: AliceTraintPluginOptions): Plugin {
  const { client } = options;
  const exec = new ExecCommand();
  const grid = new GridDownloadCommand(options.grid);

  const stage = defineCommand({
    name: 'alicetraint.stage',
    version: '1',
    description: 'Run an AliceTraINT stage, then upload its logs and results',
    params: stageParams,
    // No runner identity: a task never reuses another task's stage results (its run is its own), and the
    // image is looked up (or pulled) when the stage runs, so a missing image fails inside the stage: its
    // logs, with the engine's error, are uploaded like any failing stage's.
    runnerIdentity: () => null,
    execute: (ctx, p) =>
      uploadingStage(ctx, client, p.taskId, p.stage, p.logDir, p.results, () => {
        const params = { command: p.command, ...(p.env && { env: p.env }) };
        if (!p.container) return exec.execute(ctx, params);
        const { image, mounts } = p.container;
        const gpus = ctx.resources.gpus.length > 0 ? `GPUs ${ctx.resources.gpus.join(',')}` : 'no GPU';
        return concat(
          of<StepEvent>({
            type: 'log',
            stream: 'system',
            text: `in a container of ${image} as ${process.getuid?.() ?? '?'}:${process.getgid?.() ?? '?'}, ${gpus}`,
          }),
          defer(() => {
            // A bind mount's source must exist (the Docker plugin never creates one).
            for (const m of mounts) if (!m.readOnly) mkdirSync(m.source, { recursive: true });
            return exec.execute(
              { ...ctx, runner: mountingRunner(ctx.runner, mounts, ctx.workdir) },
              { ...params, image },
            );
          }),
        );
      }),
  });

  const download = defineCommand({
    name: 'alicetraint.download',
    version: '1',
    description: "Download a task's AODs from grid storage (verified, cached), then upload the logs",
    params: downloadParams,
    runnerIdentity: () => null,
    execute: (ctx, p) =>
      uploadingStage(
        ctx,
        client,
        p.taskId,
        p.stage,
        p.logDir,
        [],
        () => grid.execute(ctx, { aliceTask: { AODFiles: p.aods }, dest: p.dest }),
        (outputs) => {
          // The producer reads the files in the task's order.
          const files = (outputs.files as string[] | undefined) ?? [];
          const list = resolve(ctx.workdir, p.listFile);
          writeFileSync(`${list}.tmp`, files.map((f) => `${f}\n`).join(''));
          renameSync(`${list}.tmp`, list);
          return { ...outputs, list };
        },
      ),
  });

  const status = defineCommand({
    name: 'alicetraint.status',
    version: '1',
    description: 'Post a task status to the web interface',
    params: statusParams,
    runnerIdentity: () => null,
    execute: (ctx, p) =>
      new Observable<StepEvent>((subscriber) => {
        const status: MachineStatus = p.status;
        withRetries(() => client.postStatus(p.taskId, status, ctx.signal), {
          signal: ctx.signal,
          onRetry: (attempt, delay, error) =>
            subscriber.next({
              type: 'log',
              stream: 'system',
              text: `status ${status}: ${(error as Error).message}; retry ${attempt} in ${delay} ms`,
            }),
        }).then(
          () => {
            subscriber.next({ type: 'log', stream: 'system', text: `posted status ${status}` });
            subscriber.next({ type: 'outputs', outputs: { status } });
            subscriber.complete();
          },
          (error: unknown) => subscriber.error(error),
        );
      }),
  });

  return {
    name: 'alicetraint',
    dependencies: [],
    register(registry) {
      registry.addCommand(stage);
      registry.addCommand(download);
      registry.addCommand(status);
    },
  };
}

/**
 * Runs an inner command, writing its log events to the stage's two log files (and passing every event
 * on), then uploads the logs, and on success the results; the step ends only after the uploads. On
 * failure the logs are uploaded before the step fails with the stage's own error.
 */
function uploadingStage(
  ctx: CommandContext,
  client: AliceClient,
  taskId: number,
  stage: string,
  logDir: string,
  results: readonly ResultSpec[],
  inner: () => Observable<StepEvent>,
  finish?: (outputs: StepOutputs) => StepOutputs,
): Observable<StepEvent> {
  return new Observable<StepEvent>((subscriber) => {
    const uploads = new AbortController();
    const onAbort = () => uploads.abort(ctx.signal.reason);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    mkdirSync(logDir, { recursive: true });
    const logs = new StageLogs(logDir, stage);
    const uploader = new StageUploader(client, taskId, subscriber, uploads.signal);
    let outputs: StepOutputs = {};
    const end = async (failure: unknown): Promise<void> => {
      if (failure !== undefined) logs.write('stderr', `${stage}: ${messageOf(failure)}`);
      logs.close();
      // A cancelled stage uploads nothing: it runs again when the task resumes.
      if (uploads.signal.aborted) throw asError(failure ?? uploads.signal.reason);
      try {
        await uploader.logs(logs);
      } catch (error) {
        if (failure !== undefined) {
          uploader.log(`the logs of the failed stage could not be uploaded: ${messageOf(error)}`);
          throw asError(failure);
        }
        throw error;
      }
      if (failure !== undefined) throw asError(failure);
      const uploaded = await uploader.results(results);
      const out = finish ? finish(outputs) : outputs;
      subscriber.next({ type: 'outputs', outputs: { ...out, uploaded } });
    };
    const settle = (failure: unknown) =>
      void end(failure).then(
        () => subscriber.complete(),
        (error: unknown) => subscriber.error(error),
      );
    const subscription: Subscription = inner().subscribe({
      next: (event) => {
        if (event.type === 'outputs') {
          outputs = event.outputs;
          return;
        }
        if (event.type === 'log') logs.write(event.stream, event.text);
        subscriber.next(event);
      },
      error: (error: unknown) => settle(error ?? new Error(`${stage} failed`)),
      complete: () => settle(undefined),
    });
    return () => {
      ctx.signal.removeEventListener('abort', onAbort);
      subscription.unsubscribe();
      if (!uploads.signal.aborted) uploads.abort(new Error('unsubscribed'));
      logs.close();
    };
  });
}

/**
 * The step's runner with the stage's own mounts (each host folder at its own path) and the host work
 * folder as the working directory, instead of `exec`'s single `/workspace` mount.
 */
function mountingRunner(
  runner: Runner,
  mounts: readonly { source: string; readOnly: boolean }[],
  workdir: string,
): Runner {
  const specMounts = mounts.map((m) => ({ source: m.source, target: m.source, readOnly: m.readOnly }));
  return {
    name: runner.name,
    ...(runner.placement && { placement: runner.placement }),
    identity: (request) => runner.identity(request),
    exec: (spec, options) => runner.exec({ ...spec, mounts: specMounts, cwd: workdir }, options),
    ...(runner.stopOrphaned && { stopOrphaned: runner.stopOrphaned.bind(runner) }),
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : typeof error === 'string' ? error : JSON.stringify(error);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(messageOf(error));
}
