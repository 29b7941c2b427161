import { createRequire } from 'node:module';
import { GrpcFrontend } from '../grpc/grpc-frontend.js';
import { HttpFrontend, type HttpFrontendOptions } from '../http/http-frontend.js';
import { GpuMetricsPoller, type GpuMetricsOptions } from '../metrics/gpu-metrics.js';
import { MetricsFrontend } from '../metrics/metrics-frontend.js';
import { ModelManager, type ModelManagerOptions } from '../repository/model-manager.js';
import { InferenceCore } from './inference-core.js';

/** The ports a server listens on unless told otherwise: Triton's. */
export const DEFAULT_PORTS = { http: 8000, grpc: 8001, metrics: 8002 } as const;

const PACKAGE_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/** Options of an inference server. */
export interface InferenceServerOptions extends ModelManagerOptions, HttpFrontendOptions {
  /** Interface to listen on; default `127.0.0.1`. */
  host?: string;
  /** HTTP port; default 8000 (0 = any free port). `false`: no HTTP frontend. */
  httpPort?: number | false;
  /** gRPC port (`inference.GRPCInferenceService`); default 8001 (0 = any free port). `false`: none. */
  grpcPort?: number | false;
  /** Prometheus metrics port (`/metrics`); default 8002 (0 = any free port). `false`: none. */
  metricsPort?: number | false;
  /**
   * Triton's GPU gauges (`nv_gpu_*`, `nv_energy_consumption` per `gpu_uuid`) on the metrics port, read
   * from `nvidia-smi` on an interval; none where `nvidia-smi` is not installed. `false`: never asked.
   */
  gpuMetrics?: GpuMetricsOptions | false;
  /** Longest time `close()` waits for in-flight requests; default 60 s (SuperSONIC's exit timeout). */
  exitTimeoutMs?: number;
}

/** Where a started server listens. */
export interface InferenceServerAddress {
  http?: string;
  /** `host:port` of the gRPC frontend. */
  grpc?: string;
  /** URL of the Prometheus metrics. */
  metrics?: string;
}

/**
 * A model server: the model repository and the HTTP frontend (Open Inference Protocol with Triton's
 * extensions). `start()` loads models and listens; `close()` reports not-ready at once, lets
 * in-flight requests finish, then unloads.
 */
export class InferenceServer {
  readonly manager: ModelManager;
  readonly core: InferenceCore;
  private http: HttpFrontend | undefined;
  private grpc: GrpcFrontend | undefined;
  private metrics: MetricsFrontend | undefined;
  private gpu: GpuMetricsPoller | undefined;
  private address: InferenceServerAddress | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: InferenceServerOptions) {
    this.manager = new ModelManager(options);
    this.core = new InferenceCore(this.manager, { name: 'beamline-inference', version: PACKAGE_VERSION });
  }

  /** Loads the models the control mode names, then listens. */
  async start(): Promise<InferenceServerAddress> {
    if (this.address) return this.address;
    await this.manager.start();
    const host = this.options.host ?? '127.0.0.1';
    const address: InferenceServerAddress = {};
    try {
      if (this.options.httpPort !== false) {
        this.http = new HttpFrontend(this.core, this.options);
        address.http = await this.http.listen(host, this.options.httpPort ?? DEFAULT_PORTS.http);
      }
      if (this.options.grpcPort !== false) {
        this.grpc = new GrpcFrontend(this.core);
        address.grpc = await this.grpc.listen(host, this.options.grpcPort ?? DEFAULT_PORTS.grpc);
      }
      if (this.options.metricsPort !== false) {
        if (this.options.gpuMetrics !== false) {
          const report = this.options.onReport ?? ((_level, message) => console.warn(message));
          this.gpu = new GpuMetricsPoller(this.options.gpuMetrics ?? {}, report);
        }
        this.metrics = new MetricsFrontend(() => this.manager.loadedVersions(), this.gpu);
        address.metrics = await this.metrics.listen(host, this.options.metricsPort ?? DEFAULT_PORTS.metrics);
      }
    } catch (error) {
      await this.http?.close();
      await this.grpc?.close(0);
      await this.metrics?.close();
      await this.manager.stop();
      throw error;
    }
    this.gpu?.start();
    this.address = address;
    return address;
  }

  /** Ready to serve (every wanted model loaded, not shutting down). */
  get ready(): boolean {
    return this.core.ready;
  }

  /** Shuts down: not ready at once, stops accepting, drains, unloads. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.core.beginShutdown();
    const http = this.http;
    const listening = http?.close();
    const timeout = this.options.exitTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.manager.stop(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeout);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    http?.closeAll();
    await Promise.all([listening, this.grpc?.close(1000), this.metrics?.close(), this.gpu?.stop()]);
  }
}
