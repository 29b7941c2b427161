import { inject, injectable, type Command, type CommandContext, type StepEvent } from '@beamline/core';
import { isAbsolute, relative, resolve } from 'node:path';
import { Observable } from 'rxjs';
import { z } from 'zod';
import { download } from '../download/downloader.js';
import type { DownloadOptions } from '../download/download-options.js';
import type { FileResult, GridEvent } from '../download/grid-event.js';
import { GridError } from '../errors/grid-error.js';
import { fromAliceTraint } from '../inputs/alice-traint.js';
import { loadInputFile } from '../inputs/load-input.js';
import { gridFileInputSchema, toGridFile, type GridFile } from '../model/grid-file.js';
import type { GridPluginOptions } from '../plugin-options.js';
import { GridOptionsToken } from '../tokens.js';

/** Parameters of the `grid.download` step (`with:`). */
export const gridDownloadParamsSchema = z
  .object({
    /** Typed file list. */
    files: z.array(gridFileInputSchema).optional(),
    /** Path of a file list, `.meta4` or AliceTraINT task JSON (relative to the run's workdir). */
    input: z.string().min(1).optional(),
    /** An AliceTraINT queued task (or its `AODFiles`), inline. */
    aliceTask: z.unknown().optional(),
    /** Destination directory (relative to the run's workdir). Default: the step's directory. */
    dest: z.string().min(1).optional(),
    parallel: z.number().int().positive().optional(),
    perHost: z.number().int().positive().optional(),
    segments: z.number().int().positive().max(16).optional(),
    bandwidthLimit: z.number().positive().optional(),
    checksums: z.array(z.enum(['adler32', 'md5', 'sha256'])).optional(),
    dryRun: z.boolean().optional(),
  })
  .refine((p) => p.files !== undefined || p.input !== undefined || p.aliceTask !== undefined, {
    message: 'give "files", "input" or "aliceTask"',
  });

/** Validated parameters of `grid.download`. */
export type GridDownloadParams = z.output<typeof gridDownloadParamsSchema>;

/** Bytes between two `progress` step events: the run's event log is durable, so keep it small. */
const PROGRESS_EVERY_MS = 1000;

/**
 * The `grid.download` command: downloads the files into `dest`, one `artifact` event per file (SHA-256
 * is always computed, as the core's Artifact record needs it, plus the requested checksums), `progress`
 * events in bytes, `log` lines (system stream) for replica switches, retries and resumes, and outputs
 * `{files, dest, bytes}`. An abort keeps the `.part` files, so the next attempt resumes.
 */
@injectable()
export class GridDownloadCommand implements Command<GridDownloadParams> {
  readonly name = 'grid.download';
  readonly version = '1';
  readonly description = 'Download files from grid storage (HTTP(S)/WebDAV, root://), verified and resumable';
  readonly params = gridDownloadParamsSchema;

  /** @param plugin the grid plugin's options (their `defaults` apply to every step) */
  constructor(@inject(GridOptionsToken) private readonly plugin: GridPluginOptions = {}) {}

  /** Transfers run in this process, not through the step's runner: where it would run does not matter. */
  runnerIdentity(): null {
    return null;
  }

  execute(ctx: CommandContext, params: GridDownloadParams): Observable<StepEvent> {
    const plugin = this.plugin;
    return new Observable<StepEvent>((subscriber) => {
      const ctl = new AbortController();
      const onAbort = () => ctl.abort(ctx.signal.reason);
      if (ctx.signal.aborted) ctl.abort(ctx.signal.reason);
      else ctx.signal.addEventListener('abort', onAbort, { once: true });
      const dest = params.dest === undefined ? ctx.stepDir : resolve(ctx.workdir, params.dest);
      let inner: { unsubscribe(): void } | undefined;
      void collectFiles(ctx, params).then(
        (files) => {
          if (subscriber.closed) return;
          const options: DownloadOptions = {
            ...plugin.defaults,
            dest,
            checksums: [
              ...new Set([
                ...(plugin.defaults?.checksums ?? []),
                ...(params.checksums ?? []),
                'sha256' as const,
              ]),
            ],
            signal: ctl.signal,
            ...(params.parallel !== undefined && { parallel: params.parallel }),
            ...(params.perHost !== undefined && { perHost: params.perHost }),
            ...(params.segments !== undefined && { segments: params.segments }),
            ...(params.bandwidthLimit !== undefined && { bandwidthLimit: params.bandwidthLimit }),
            ...(params.dryRun !== undefined && { dryRun: params.dryRun }),
          };
          let lastProgress = 0;
          const results: FileResult[] = [];
          inner = download(files, options).subscribe({
            next: (e) => {
              for (const out of toStepEvents(e, dest, ctx.workdir)) {
                if (out.type === 'progress') {
                  const now = Date.now();
                  if (now - lastProgress < PROGRESS_EVERY_MS) continue;
                  lastProgress = now;
                }
                subscriber.next(out);
              }
              if (e.type === 'file-done') results.push(e.file);
              if (e.type === 'plan' && e.dryRun) {
                subscriber.next({
                  type: 'outputs',
                  outputs: { files: e.files.map((f) => f.path), dest, bytes: e.fetchBytes, plan: e.files },
                });
              }
            },
            error: (err: unknown) => subscriber.error(ctl.signal.aborted ? abortError(err) : err),
            complete: () => {
              if (!options.dryRun) {
                const bytes = results.reduce((n, r) => n + r.size, 0);
                subscriber.next({
                  type: 'progress',
                  current: bytes,
                  total: bytes,
                  message: `${results.length} files`,
                });
                subscriber.next({
                  type: 'outputs',
                  outputs: { files: results.map((r) => r.path), dest, bytes },
                });
              }
              subscriber.complete();
            },
          });
        },
        (err: unknown) => subscriber.error(err),
      );
      return () => {
        ctx.signal.removeEventListener('abort', onAbort);
        inner?.unsubscribe();
        if (!ctl.signal.aborted) ctl.abort(new GridError('GRID_ABORTED', 'unsubscribed'));
      };
    });
  }
}

function abortError(cause: unknown): GridError {
  return new GridError('GRID_ABORTED', 'grid.download aborted; .part files are kept for resume', {
    cause,
    retryable: false,
  });
}

async function collectFiles(ctx: CommandContext, params: GridDownloadParams): Promise<GridFile[]> {
  const files: GridFile[] = (params.files ?? []).map((f, i) => toGridFile(f, i));
  if (params.input !== undefined) files.push(...(await loadInputFile(resolve(ctx.workdir, params.input))));
  if (params.aliceTask !== undefined) files.push(...fromAliceTraint(params.aliceTask));
  return files;
}

/** Maps library events onto the core's step events. */
function toStepEvents(e: GridEvent, dest: string, workdir: string): StepEvent[] {
  switch (e.type) {
    case 'plan':
      return [
        {
          type: 'log',
          stream: 'system',
          text: `grid.download: ${e.files.length} files, ${e.totalBytes} bytes, ${e.fetchBytes} to fetch${e.dryRun ? ' (dry run)' : ''}`,
        },
        ...(e.dryRun
          ? e.files.map((f): StepEvent => ({
              type: 'log',
              stream: 'system',
              text: `plan: ${f.name} -> ${f.path} [${f.action}] from ${f.replicas[0] ?? '-'}`,
            }))
          : []),
      ];
    case 'progress':
      return [
        {
          type: 'progress',
          current: e.totalBytes,
          total: e.totalSize,
          message: `${e.name}: ${e.bytes}/${e.size ?? '?'} bytes`,
        },
      ];
    case 'resume':
      return [{ type: 'log', stream: 'system', text: e.message }];
    case 'retry':
      return [
        {
          type: 'log',
          stream: 'system',
          text: `${e.name}: retry ${e.attempt} in ${e.delayMs} ms after ${e.error.code}: ${e.error.message}`,
        },
      ];
    case 'replica-switch':
      return [
        {
          type: 'log',
          stream: 'system',
          text: `${e.name}: ${e.error.code} on ${e.from}; ${e.to ? `trying ${e.to}` : 'no replica left'}`,
        },
      ];
    case 'log':
      return [{ type: 'log', stream: 'system', text: e.message }];
    case 'file-failed':
      return [
        { type: 'log', stream: 'system', text: `${e.name}: failed: ${e.error.code}: ${e.error.message}` },
      ];
    case 'file-done': {
      const f = e.file;
      const rel = relative(dest, f.path);
      return [
        {
          type: 'artifact',
          artifact: {
            name: isAbsolute(rel) || rel.startsWith('..') ? relative(workdir, f.path) : rel,
            path: f.path,
            sha256: f.checksums.sha256 ?? '',
            size: f.size,
            kind: 'file',
          },
        },
      ];
    }
    case 'file-start':
    case 'done':
      return [];
  }
}
