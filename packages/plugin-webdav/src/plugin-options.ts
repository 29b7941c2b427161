import type { ShareConfigInput } from './config/share-config.js';

/** Options of {@link createWebdavPlugin}. */
export interface WebdavPluginOptions {
  /**
   * The shares: a configuration object (`defineShares({...})`), or the path of a YAML, JSON or module
   * file (relative to the runtime's working directory).
   */
  readonly shares: ShareConfigInput | string;
  /**
   * Where the service listens when the runtime starts it. Default: the configuration's `listen`, else
   * 127.0.0.1:8080. `false`: no listener of its own; mount `service.server` in an application's server
   * (`attachShares`, `webdavExpress`, `webdavFastifyFactory`).
   */
  readonly listen?: { readonly host?: string; readonly port?: number } | false;
  /**
   * Worker processes serving the shares (Node `cluster`, all on the service's port, sharing the state
   * file: see `ShareCluster`). Default 1: the server runs in the runtime's process. More than 1
   * needs the service's own listener (not `listen: false`).
   */
  readonly workers?: number;
}
