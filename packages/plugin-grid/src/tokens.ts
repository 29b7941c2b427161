import { createToken } from '@beamline/core';
import type { GridDownloader } from './plugin.js';
import type { GridPluginOptions } from './plugin-options.js';
import type { TransferDriverRegistry } from './transport/driver.js';

/**
 * The plugin's downloader (the library API with the plugin's defaults), for applications
 * (`runtime.resolve`) and other plugins' classes (`@inject(GridDownloaderToken)`).
 */
export const GridDownloaderToken = createToken<GridDownloader>('beamline.grid.downloader');
/** The options `createGridPlugin` was given; the command and the downloader are built from them. */
export const GridOptionsToken = createToken<GridPluginOptions>('beamline.grid.options');
/**
 * The transfer drivers of the runtime's grid plugin: another plugin (depending on `grid`) adds a driver
 * for its URL scheme with `registry.resolve(GridTransferDriversToken).register(driver)`; every
 * `grid.download` step and the {@link GridDownloaderToken} downloader use what is registered when a job starts.
 */
export const GridTransferDriversToken = createToken<TransferDriverRegistry>('beamline.grid.transfer-drivers');
