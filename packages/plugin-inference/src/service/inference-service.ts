import { resolve } from 'node:path';
import {
  inject,
  injectable,
  Tokens,
  type EventSink,
  type ResourcePool,
  type RuntimeConfig,
  type Service,
  type ServiceAddress,
  type ServiceHealth,
} from '@beamline/core';
import type { InferencePluginOptions } from '../plugin/plugin-options.js';
import { InferenceServer } from '../server/inference-server.js';
import { InferenceOptionsToken } from '../tokens.js';

/**
 * The `inference` service: an {@link InferenceServer} on the plugin's model repository. Loads, provider
 * fallbacks and failures become runtime events (source `inference`); GPU instances take their GPU ids
 * from the runtime's resource pool.
 */
@injectable()
export class InferenceService implements Service {
  readonly name = 'inference';
  private server: InferenceServer | undefined;
  private address: ServiceAddress | undefined;

  constructor(
    @inject(InferenceOptionsToken) private readonly options: InferencePluginOptions,
    @inject(Tokens.Events) private readonly events: EventSink,
    @inject(Tokens.Config) private readonly config: RuntimeConfig,
    @inject(Tokens.ResourcePool) private readonly pool: ResourcePool,
  ) {}

  /** The running server (its model manager, readiness); undefined before `start`. */
  get inferenceServer(): InferenceServer | undefined {
    return this.server;
  }

  /** The HTTP URL the server listens on; undefined before `start`. */
  get url(): string | undefined {
    return this.address?.url;
  }

  async start(): Promise<ServiceAddress> {
    if (this.address) return this.address;
    const { modelRepository, ...rest } = this.options;
    const server = new InferenceServer({
      ...rest,
      repository: resolve(this.config.cwd, modelRepository ?? '.'),
      pool: this.pool,
      onReport: (level, message, details) =>
        this.events.emit({ level, source: 'inference', message, ...(details && { details }) }),
    });
    const address = await server.start();
    this.server = server;
    this.address = { url: address.http ?? '' };
    return this.address;
  }

  async stop(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
    this.address = undefined;
  }

  health(): Promise<ServiceHealth> {
    const ready = this.server?.ready ?? false;
    return Promise.resolve(
      ready ? { ok: true } : { ok: false, detail: this.server ? 'models not ready' : 'not started' },
    );
  }
}
