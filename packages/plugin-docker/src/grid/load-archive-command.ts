import { rm } from 'node:fs/promises';
import { inject, injectable, type Command, type CommandContext, type StepEvent } from '@beamline/core';
import { GridDownloaderToken, toGridFile, type FileResult, type GridDownloader } from '@beamline/plugin-grid';
import type Docker from 'dockerode';
import { lastValueFrom, tap, type Observable } from 'rxjs';
import { z } from 'zod';
import { imageStep, progressEvents } from '../images/image-commands.js';
import { loadImage } from '../images/load-image.js';
import { DockerClientToken } from '../tokens.js';

const hex = z.string().regex(/^[0-9a-fA-F]+$/, 'hexadecimal');

const loadArchiveParams = z
  .strictObject({
    /** Replicas of one `docker save` archive (`https://`, `davs://`, `root://`), tried in order. */
    urls: z.array(z.string().min(1)).min(1),
    /** Size in bytes, when the catalogue knows it. */
    size: z.number().int().nonnegative().optional(),
    adler32: hex.optional(),
    md5: hex.optional(),
    sha256: hex.optional(),
  })
  .refine((p) => p.adler32 !== undefined || p.md5 !== undefined || p.sha256 !== undefined, {
    message: "give the archive's checksum (adler32, md5 or sha256): an image is only loaded once verified",
  });

/** Parameters of `docker.load-archive`. */
export type LoadArchiveParams = z.output<typeof loadArchiveParams>;

/**
 * `docker.load-archive`: loads a `docker save` archive that lives on grid storage. The archive is fetched
 * by the grid plugin's downloader (its replicas, retries, resume, credentials and checksum cache), loaded
 * only once its checksum matched, and deleted from the step folder after the load (the daemon has the
 * image; with the grid plugin's `cacheDir` the archive stays in the cache for the next host or run).
 * Outputs `{ images, bytes }`.
 */
@injectable()
export class LoadArchiveCommand implements Command<LoadArchiveParams> {
  readonly name = 'docker.load-archive';
  readonly version = '1';
  readonly description =
    'Load a docker save archive from grid storage, fetched and verified by the grid plugin';
  readonly params = loadArchiveParams;

  constructor(
    @inject(DockerClientToken) private readonly docker: Docker,
    @inject(GridDownloaderToken) private readonly grid: GridDownloader,
  ) {}

  /** Talks to storage and the daemon itself: where the step would run does not matter. */
  runnerIdentity(): null {
    return null;
  }

  execute(ctx: CommandContext, p: LoadArchiveParams): Observable<StepEvent> {
    return imageStep(ctx, async (emit, signal) => {
      const archive = await this.fetch(ctx, p, emit, signal);
      try {
        const loaded = await loadImage(this.docker, archive.path, {
          signal,
          onProgress: progressEvents(emit),
        });
        return { images: loaded.images, bytes: archive.size };
      } finally {
        await rm(archive.path, { force: true });
      }
    });
  }

  /** The archive in the step folder, verified against the given checksums. */
  private async fetch(
    ctx: CommandContext,
    p: LoadArchiveParams,
    emit: (event: StepEvent) => void,
    signal: AbortSignal,
  ): Promise<FileResult> {
    const file = toGridFile({
      name: 'image.tar',
      urls: p.urls,
      ...(p.size === undefined ? {} : { size: p.size }),
      ...(p.adler32 === undefined ? {} : { adler32: p.adler32 }),
      ...(p.md5 === undefined ? {} : { md5: p.md5 }),
      ...(p.sha256 === undefined ? {} : { sha256: p.sha256 }),
    });
    let result: FileResult | undefined;
    await lastValueFrom(
      this.grid.download([file], { dest: ctx.stepDir, signal }).pipe(
        tap((event) => {
          if (event.type === 'progress') {
            emit({
              type: 'progress',
              current: event.bytes,
              ...(event.size === undefined ? {} : { total: event.size }),
              message: 'fetching the archive',
            });
          } else if (event.type === 'file-done') {
            result = event.file;
          }
        }),
      ),
      { defaultValue: undefined },
    );
    if (result === undefined) throw new Error('the grid download ended without the archive');
    return result;
  }
}
