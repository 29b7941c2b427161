import { createToken } from '@beamline/core';
import type { GridDownloader } from './plugin.js';

/** Resolves the plugin's downloader (library API with the plugin's defaults), for other plugins. */
export const GridDownloaderToken = createToken<GridDownloader>('beamline.grid.downloader');
