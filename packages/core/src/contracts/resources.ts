/** What a step asks the resource pool for. */
export interface ResourceRequest {
  /** CPU cores (may be fractional); default 1. */
  cpus?: number;
  /** Memory in MiB; default 0 (not counted). */
  memoryMb?: number;
  /** Number of GPUs; default 0. Each granted GPU is a specific device id. */
  gpus?: number;
  /** Run without GPUs on a host that has none, instead of failing before the run starts. */
  gpuOptional?: boolean;
  /**
   * Capability labels the host must have (`gpu=a100`, `docker`: a name, or `name=value`), from a step's
   * `runs-on`. For runners that place work on other hosts; this host's pool does not look at them.
   */
  labels?: readonly string[];
}

/** What a step was granted: counters, and the specific GPU ids it may use. */
export interface ResourceGrant {
  cpus: number;
  memoryMb: number;
  /** Device ids, as `CUDA_VISIBLE_DEVICES` / Docker `DeviceIDs` spell them. */
  gpus: readonly string[];
}

/** The capacity of a resource pool. */
export interface ResourceCapacity {
  cpus: number;
  memoryMb: number;
  gpus: readonly string[];
}
