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
import { loadShareConfig } from '../config/load-share-config.js';
import { resolveShareConfig } from '../config/resolve-share-config.js';
import type { ShareConfig } from '../config/share-config.js';
import type { WebdavPluginOptions } from '../plugin-options.js';
import { ShareServer } from '../server/share-server.js';
import { WebdavOptionsToken } from '../tokens.js';

const DEFAULT_LISTEN = { host: '127.0.0.1', port: 8080 };

/**
 * The `webdav` service: loads the shares configuration, opens the {@link ShareServer} and, unless told
 * not to, listens on its own address (`start` returns it). The server's warnings become runtime
 * `warning` events (source `webdav`); its access events are on `service.server.events` / `access$`.
 */
@injectable()
export class WebdavService implements Service {
  readonly name = 'webdav';
  private shareServer: ShareServer | undefined;
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

  async start(): Promise<ServiceAddress> {
    if (this.address) return this.address;
    const config = await this.config();
    const server = await ShareServer.open(config);
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

  async stop(): Promise<void> {
    const server = this.shareServer;
    this.shareServer = undefined;
    this.address = undefined;
    await server?.close();
  }

  health(): Promise<ServiceHealth> {
    const server = this.shareServer;
    if (!server) return Promise.resolve({ ok: false, detail: 'not started' });
    return Promise.resolve(
      server.healthy()
        ? { ok: true, detail: this.address?.url || 'mounted' }
        : { ok: false, detail: 'closed' },
    );
  }
}
