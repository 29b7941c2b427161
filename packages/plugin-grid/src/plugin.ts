import type { Plugin } from '@beamline/core';
import type { Observable } from 'rxjs';
import { createGridDownloadCommand } from './command/grid-download-command.js';
import { download, planDownload } from './download/downloader.js';
import type { DownloadOptions } from './download/download-options.js';
import type { GridEvent, PlannedFile } from './download/grid-event.js';
import type { GridFile } from './model/grid-file.js';
import type { GridPluginOptions } from './plugin-options.js';
import { GridDownloaderToken } from './tokens.js';

/** The library API bound to the plugin's defaults. */
export interface GridDownloader {
  download(files: readonly GridFile[], options: DownloadOptions): Observable<GridEvent>;
  plan(files: readonly GridFile[], options: DownloadOptions): Promise<PlannedFile[]>;
}

/**
 * Creates the grid plugin: registers the `grid.download` command and provides a {@link GridDownloader}
 * under {@link GridDownloaderToken}.
 *
 * @example
 * ```ts
 * const runtime = await createRuntime({ plugins: [createGridPlugin({ defaults: { cacheDir: '/data/grid-cache' } })] });
 * ```
 */
export function createGridPlugin(options: GridPluginOptions = {}): Plugin {
  const downloader: GridDownloader = {
    download: (files, o) => download(files, { ...options.defaults, ...o }),
    plan: (files, o) => planDownload(files, { ...options.defaults, ...o }),
  };
  return {
    name: 'grid',
    register(registry) {
      registry.addCommand(createGridDownloadCommand(options));
      registry.provide(GridDownloaderToken, downloader);
    },
  };
}
