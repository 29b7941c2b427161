import { createToken } from '@beamline/core';
import type { GridDownloader } from './plugin.js';
import type { GridPluginOptions } from './plugin-options.js';

/**
 * The plugin's downloader (the library API with the plugin's defaults), for applications
 * (`runtime.resolve`) and other plugins' classes (`@inject(GridDownloaderToken)`).
 */
export const GridDownloaderToken = createToken<GridDownloader>('beamline.grid.downloader');
/** The options `createGridPlugin` was given; the command and the downloader are built from them. */
export const GridOptionsToken = createToken<GridPluginOptions>('beamline.grid.options');
