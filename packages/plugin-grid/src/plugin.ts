import { inject, injectable, type Plugin } from '@beamline/core';
import type { Observable } from 'rxjs';
import { GridDownloadCommand } from './command/grid-download-command.js';
import { download, planDownload } from './download/downloader.js';
import type { DownloadOptions } from './download/download-options.js';
import type { GridEvent, PlannedFile } from './download/grid-event.js';
import type { GridFile } from './model/grid-file.js';
import type { GridPluginOptions } from './plugin-options.js';
import { GridDownloaderToken, GridOptionsToken, GridTransferDriversToken } from './tokens.js';
import { TransferDriverRegistry } from './transport/driver.js';

/** The library API bound to the plugin's defaults. */
export interface GridDownloader {
  download(files: readonly GridFile[], options: DownloadOptions): Observable<GridEvent>;
  plan(files: readonly GridFile[], options: DownloadOptions): Promise<PlannedFile[]>;
}

/** {@link GridDownloader} with the plugin's `defaults` under every call's options. */
@injectable()
class DefaultsDownloader implements GridDownloader {
  constructor(@inject(GridOptionsToken) private readonly options: GridPluginOptions) {}

  download(files: readonly GridFile[], options: DownloadOptions): Observable<GridEvent> {
    return download(files, { ...this.options.defaults, ...options });
  }

  plan(files: readonly GridFile[], options: DownloadOptions): Promise<PlannedFile[]> {
    return planDownload(files, { ...this.options.defaults, ...options });
  }
}

/**
 * Creates the grid plugin: registers the `grid.download` command and provides a {@link GridDownloader}
 * under {@link GridDownloaderToken}; the runtime's container builds both from the options.
 *
 * @example
 * ```ts
 * const runtime = await createRuntime({ plugins: [createGridPlugin({ defaults: { cacheDir: '/data/grid-cache' } })] });
 * ```
 */
export function createGridPlugin(options: GridPluginOptions = {}): Plugin {
  return {
    name: 'grid',
    register(registry) {
      // One driver registry per runtime; steps and the downloader read it through their defaults.
      const drivers = new TransferDriverRegistry([
        ...(options.defaults?.drivers ?? []),
        ...(options.drivers ?? []),
      ]);
      registry.provide(GridTransferDriversToken, drivers);
      registry.provide(GridOptionsToken, { ...options, defaults: { ...options.defaults, drivers } });
      registry.provideClass(GridDownloaderToken, DefaultsDownloader);
      registry.addCommand(GridDownloadCommand);
    },
  };
}
