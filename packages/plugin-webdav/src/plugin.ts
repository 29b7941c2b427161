import type { Plugin } from '@beamline/core';
import type { WebdavPluginOptions } from './plugin-options.js';
import { PublishCommand } from './publish/publish-command.js';
import { WebdavService } from './service/webdav-service.js';
import { WebdavOptionsToken, WebdavServiceToken } from './tokens.js';

/**
 * Creates the WebDAV plugin: the `webdav` service (the share server; the runtime starts and stops it)
 * under {@link WebdavServiceToken}, and the `webdav.publish` command.
 *
 * @example
 * ```ts
 * const runtime = await createRuntime({
 *   plugins: [createWebdavPlugin({ shares: 'shares.yaml' })],
 * });
 * const share = runtime.resolve(WebdavServiceToken); // share.server.events.on('access', …)
 * ```
 */
export function createWebdavPlugin(options: WebdavPluginOptions): Plugin {
  return {
    name: 'webdav',
    register(registry) {
      registry.provide(WebdavOptionsToken, options);
      registry.addService(WebdavService);
      registry.provideClass(WebdavServiceToken, WebdavService);
      registry.addCommand(PublishCommand);
    },
  };
}
