import type { DownloadOptions } from './download/download-options.js';

/** Options of {@link createGridPlugin}: defaults applied to every `grid.download` step. */
export interface GridPluginOptions {
  /** Job options every step starts from (credentials, cache, limits, resolver); step parameters win. */
  readonly defaults?: Omit<DownloadOptions, 'dest' | 'signal' | 'dryRun'>;
}
