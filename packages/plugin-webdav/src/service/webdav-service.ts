import { resolve } from 'node:path';
import {
  inject,
  injectable,
  Tokens,
  type EventSink,
  type RuntimeConfig,
  type Service,
  type ServiceAddress,
  type ServiceHealth,
} from '@beamline/core';
import { ShareCluster } from '../cluster/share-cluster.js';
import { loadShareConfig } from '../config/load-share-config.js';
import { resolveShareConfig } from '../config/resolve-share-config.js';
import type { ShareConfig } from '../config/share-config.js';
import { WebdavError } from '../errors/webdav-error.js';
import type { WebdavPluginOptions } from '../plugin-options.js';
import { ShareServer } from '../server/share-server.js';
import { WebdavOptionsToken } from '../tokens.js';

const DEFAULT_LISTEN = { host: '127.0.0.1', port: 8080 };

/**
 * The `webdav` service: loads the shares configuration, opens the {@link ShareServer} and, unless told
 * not to, listens on its own address (`start` returns it), in the runtime's process or, with
 * `workers` > 1, in that many worker processes ({@link ShareCluster}; `health` reports them). The
 * server's warnings become runtime `warning` events (source `webdav`); its access events (every
 * worker's) are on `service.server.events` / `access$`.
 */
@injectable()
export class WebdavService implements Service {
  readonly name = 'webdav';
  private shareServer: ShareServer | undefined;
  private shareCluster: ShareCluster | undefined;
  private address: ServiceAddress | undefined;
  private loaded: ShareConfig | undefined;

  constructor(
    @inject(WebdavOptionsToken) private readonly options: WebdavPluginOptions,
    @inject(Tokens.Events) private readonly events: EventSink,
    @inject(Tokens.Config) private readonly runtimeConfig: RuntimeConfig,
  ) {}

  /** The shares configuration, validated (read once, on first use). */
  async config(): Promise<ShareConfig> {
    if (!this.loaded) {
      const cwd = this.runtimeConfig.cwd;
      const shares = this.options.shares;
      this.loaded =
        typeof shares === 'string'
          ? await loadShareConfig(resolve(cwd, shares))
          : resolveShareConfig(shares, { baseDir: cwd, source: 'the webdav plugin options' });
    }
    return this.loaded;
  }

  /** The running server (to mount it, or to follow its access events); undefined before `start`. */
  get server(): ShareServer | undefined {
    return this.shareServer;
  }

  /** The worker processes, when the service runs with `workers` > 1. */
  get cluster(): ShareCluster | undefined {
    return this.shareCluster;
  }

  async start(): Promise<ServiceAddress> {
    if (this.address) return this.address;
    const config = await this.config();
    const workers = this.options.workers ?? 1;
    if (workers > 1) return this.startCluster(config, workers);
    const server = await ShareServer.open(config);
    this.forwardWarnings(server);
    this.shareServer = server;
    if (this.options.listen === false) {
      this.address = { url: '' };
      return this.address;
    }
    const listen = { ...DEFAULT_LISTEN, ...config.listen, ...this.options.listen };
    try {
      const { url } = await server.listen({ ...listen, ...(config.tls && { tls: config.tls }) });
      this.address = { url };
    } catch (error) {
      await server.close(0);
      this.shareServer = undefined;
      throw error;
    }
    return this.address;
  }

  private async startCluster(config: ShareConfig, workers: number): Promise<ServiceAddress> {
    if (this.options.listen === false)
      throw new WebdavError(
        'WEBDAV_START_FAILED',
        `workers: ${workers} needs the service's own listener; a share mounted in another server (listen: false) runs in one process`,
      );
    const listen = { ...DEFAULT_LISTEN, ...config.listen, ...this.options.listen };
    const cluster = await ShareCluster.start(config, {
      ...listen,
      ...(config.tls && { tls: config.tls }),
      workers,
    });
    this.forwardWarnings(cluster.server);
    this.shareCluster = cluster;
    this.shareServer = cluster.server;
    this.address = { url: cluster.url };
    return this.address;
  }

  private forwardWarnings(server: ShareServer): void {
    server.events.on('warning', (warning) =>
      this.events.emit({
        level: 'warning',
        source: 'webdav',
        message: warning.message,
        ...(warning.details && { details: warning.details }),
      }),
    );
    for (const warning of server.startupWarnings)
      this.events.emit({ level: 'warning', source: 'webdav', message: warning.message });
  }

  async stop(): Promise<void> {
    const server = this.shareServer;
    const cluster = this.shareCluster;
    this.shareServer = undefined;
    this.shareCluster = undefined;
    this.address = undefined;
    if (cluster) await cluster.close();
    else await server?.close();
  }

  health(): Promise<ServiceHealth> {
    const server = this.shareServer;
    if (!server) return Promise.resolve({ ok: false, detail: 'not started' });
    const cluster = this.shareCluster;
    if (cluster) {
      const workers = cluster.workers();
      const wanted = this.options.workers ?? 1;
      return Promise.resolve({
        ok: cluster.healthy(),
        detail: `${this.address?.url ?? ''}: ${workers.length}/${wanted} workers (pids ${workers.map((worker) => worker.pid).join(', ') || 'none'}), ${cluster.restarts} replaced`,
      });
    }
    return Promise.resolve(
      server.healthy()
        ? { ok: true, detail: this.address?.url || 'mounted' }
        : { ok: false, detail: 'closed' },
    );
  }
}
