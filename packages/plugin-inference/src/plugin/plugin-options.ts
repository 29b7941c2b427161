import type { GpuMetricsOptions } from '../metrics/gpu-metrics.js';
import type { ControlMode, ProviderName } from '../repository/model-manager.js';

/** Options of {@link createInferencePlugin}. */
export interface InferencePluginOptions {
  /**
   * The model repository to serve (Triton's layout), relative to the runtime's folder. Without it the
   * plugin registers only the `inference.run` command.
   */
  modelRepository?: string;
  /** `none` (default: every model at start), `explicit` (on request, plus `loadModels`), `poll`. */
  controlMode?: ControlMode;
  /** `explicit` mode: models loaded at start (`*` = all). */
  loadModels?: string[];
  /** `poll` mode: rescan interval; default 5 s. */
  pollIntervalMs?: number;
  /** Execution providers tried in order for GPU instances; default tensorrt, cuda, cpu. */
  executionProviders?: ProviderName[];
  /** Fail a load when the first provider cannot be used, instead of falling back. */
  strictProviders?: boolean;
  /** Queue bound of models whose configuration sets none; default 1024 (0 = unbounded). */
  maxQueueSize?: number;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** HTTP port; default 8000 (0 = any free port). */
  httpPort?: number;
  /** gRPC port; default 8001 (0 = any free port). */
  grpcPort?: number;
  /** Prometheus metrics port; default 8002 (0 = any free port). */
  metricsPort?: number;
  /** `nv_gpu_*` metrics from `nvidia-smi` (interval, timeout); `false`: none. Default: on, every 2 s. */
  gpuMetrics?: GpuMetricsOptions | false;
  /** Largest HTTP request body; default 64 MiB. */
  maxInputSize?: number;
  /** Longest wait for in-flight requests at shutdown; default 60 s. */
  exitTimeoutMs?: number;
}
