import type { DownloadOptions } from './download/download-options.js';
import type { TransferDriver } from './transport/driver.js';

/** Options of `createGridPlugin`: defaults applied to every `grid.download` step. */
export interface GridPluginOptions {
  /** Job options every step starts from (credentials, cache, limits, resolver); step parameters win. */
  readonly defaults?: Omit<DownloadOptions, 'dest' | 'signal' | 'dryRun'>;
  /**
   * Transfer drivers for more URL schemes (or replacing a built-in one), registered in the runtime's
   * {@link GridTransferDriversToken} registry, where other plugins can add theirs too.
   */
  readonly drivers?: readonly TransferDriver[];
}
