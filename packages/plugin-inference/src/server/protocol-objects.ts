import { tensorDatatype, type ModelConfig, type TensorConfig } from '../model/model-config.js';
import type { BatchStatistics, InferStatistics } from '../runtime/model-stats.js';
import type { ModelVersion } from '../runtime/model-version.js';

/** Extensions this server implements, exactly (announced in the server metadata). */
export const EXTENSIONS = [
  'binary_tensor_data',
  'model_repository',
  'model_configuration',
  'statistics',
  'schedule_policy',
  'parameters',
] as const;

/** `GET /v2`. */
export interface ServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

/** Tensor metadata in model metadata. */
export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

/** `GET /v2/models/{m}`. */
export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

/** One entry of `/stats`. */
export interface ModelStatistics {
  name: string;
  version: string;
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: InferStatistics;
  response_stats: Record<string, never>;
  batch_stats: BatchStatistics[];
  memory_usage: never[];
}

function tensorMetadata(config: ModelConfig, tensor: TensorConfig): TensorMetadata {
  return {
    name: tensor.name,
    datatype: tensorDatatype(tensor),
    shape: config.max_batch_size > 0 ? [-1, ...tensor.dims] : [...tensor.dims],
  };
}

/** Model metadata of a version, listing every loaded version of the model. */
export function modelMetadata(version: ModelVersion, loaded: readonly number[]): ModelMetadata {
  const config = version.config;
  return {
    name: version.name,
    versions: loaded.map(String),
    platform: config.platform,
    inputs: config.input.map((tensor) => tensorMetadata(config, tensor)),
    outputs: config.output.map((tensor) => tensorMetadata(config, tensor)),
  };
}

/** Statistics of one version, in Triton's shape. */
export function modelStatistics(version: ModelVersion): ModelStatistics {
  const stats = version.stats;
  return {
    name: version.name,
    version: String(version.version),
    last_inference: stats.lastInference,
    inference_count: stats.inferenceCount,
    execution_count: stats.executionCount,
    inference_stats: stats.inference,
    response_stats: {},
    batch_stats: [...stats.batches.values()].sort((a, b) => a.batch_size - b.batch_size),
    memory_usage: [],
  };
}
