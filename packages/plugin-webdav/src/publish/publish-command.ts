import { resolve } from 'node:path';
import { inject, injectable, type Command, type CommandContext, type StepEvent } from '@beamline/core';
import { Observable } from 'rxjs';
import { z } from 'zod';
import type { WebdavService } from '../service/webdav-service.js';
import { WebdavServiceToken } from '../tokens.js';
import { publishToShare } from './publish.js';

/** Parameters of the `webdav.publish` step (`with:`). */
export const publishParamsSchema = z.strictObject({
  /** URL path of the share (`/data`). */
  share: z.string().min(1),
  /** Where in the share (`results/${{ params.team }}/${{ params.version }}`); parents are created. */
  dest: z.string().min(1),
  /** The file or folder to publish, relative to the run's working directory. */
  from: z.string().min(1),
  /** Replace what is at `dest` (default false: the step fails instead). */
  overwrite: z.boolean().default(false),
  /** Write a `SHA256SUMS` into a published folder (default true). */
  manifest: z.boolean().default(true),
});

/** Validated parameters of `webdav.publish`. */
export type PublishParams = z.output<typeof publishParamsSchema>;

/**
 * The `webdav.publish` command: places a run's file or folder into a share of the plugin's
 * configuration, atomically (copied and hashed under a hidden name, then renamed into place), one
 * `artifact` event per published file (its SHA-256 and size), `progress` in bytes, and outputs
 * `{ url, path, files, bytes }` (`url` is the share URL path, relative to the server).
 */
@injectable()
export class PublishCommand implements Command<PublishParams> {
  readonly name = 'webdav.publish';
  readonly version = '1';
  readonly description = 'Publish a file or folder into a WebDAV share, atomically, with SHA-256 digests';
  readonly params = publishParamsSchema;

  constructor(@inject(WebdavServiceToken) private readonly service: WebdavService) {}

  /** Copies in this process, never through the step's runner. */
  runnerIdentity(): null {
    return null;
  }

  execute(ctx: CommandContext, params: PublishParams): Observable<StepEvent> {
    return new Observable<StepEvent>((subscriber) => {
      const controller = new AbortController();
      const onAbort = (): void => controller.abort(ctx.signal.reason);
      if (ctx.signal.aborted) controller.abort(ctx.signal.reason);
      else ctx.signal.addEventListener('abort', onAbort, { once: true });
      let lastProgress = 0;
      void this.service
        .config()
        .then((config) =>
          publishToShare(config, {
            share: params.share,
            dest: params.dest,
            source: resolve(ctx.workdir, params.from),
            overwrite: params.overwrite,
            manifest: params.manifest,
            signal: controller.signal,
            onProgress: (current, total) => {
              const now = Date.now();
              if (now - lastProgress < 1000 && current < total) return;
              lastProgress = now;
              subscriber.next({ type: 'progress', current, total, message: 'bytes' });
            },
          }),
        )
        .then(
          (result) => {
            for (const file of result.files)
              subscriber.next({
                type: 'artifact',
                artifact: {
                  name: file.name,
                  path: file.path,
                  sha256: file.sha256,
                  size: file.size,
                  kind: 'file',
                },
              });
            subscriber.next({
              type: 'outputs',
              outputs: {
                url: result.urlPath,
                path: result.path,
                files: result.files.length,
                bytes: result.bytes,
              },
            });
            subscriber.complete();
          },
          (error: unknown) => subscriber.error(error),
        );
      return () => {
        ctx.signal.removeEventListener('abort', onAbort);
        controller.abort(new Error('unsubscribed'));
      };
    });
  }
}
