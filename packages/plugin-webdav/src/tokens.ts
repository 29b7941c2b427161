import { createToken } from '@beamline/core';
import type { WebdavPluginOptions } from './plugin-options.js';
import type { WebdavService } from './service/webdav-service.js';

/**
 * The runtime's WebDAV share service (`webdav`): applications resolve it to read its address or mount
 * its server (`runtime.resolve(WebdavServiceToken).server`), other plugins inject it (PETRIC publishes
 * results into the share it serves).
 */
export const WebdavServiceToken = createToken<WebdavService>('beamline.webdav.service');
/** The options `createWebdavPlugin` was given. */
export const WebdavOptionsToken = createToken<WebdavPluginOptions>('beamline.webdav.options');
