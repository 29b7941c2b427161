export { createInferencePlugin } from './plugin/create-inference-plugin.js';
export type { InferencePluginOptions } from './plugin/plugin-options.js';
export { InferenceService } from './service/inference-service.js';
export {
  DEFAULT_PORTS,
  InferenceServer,
  type InferenceServerAddress,
  type InferenceServerOptions,
} from './server/inference-server.js';
export {
  ModelManager,
  type ControlMode,
  type ModelIndexEntry,
  type ModelManagerOptions,
  type ProviderName,
} from './repository/model-manager.js';
export type {
  ModelVersion,
  InferenceRequest,
  InferenceResult,
  NamedTensor,
  VersionState,
} from './runtime/model-version.js';
export type { ProviderFallback } from './runtime/session-worker.js';
export type { GpuMetricsOptions } from './metrics/gpu-metrics.js';
export type { FailureReason, InferStatistics, StatDuration, BatchStatistics } from './runtime/model-stats.js';
export type {
  DynamicBatching,
  InstanceGroup,
  ModelConfig,
  QueuePolicy,
  TensorConfig,
  VersionPolicy,
} from './model/model-config.js';
export type { Datatype, Tensor, TensorData } from './model/datatypes.js';
export type {
  ModelMetadata,
  ModelStatistics,
  ServerMetadata,
  TensorMetadata,
} from './server/protocol-objects.js';
export {
  InferenceHttpClient,
  type ClientTensor,
  type InferOptions,
  type InferResponse,
} from './client/http-client.js';
export { InferenceGrpcClient, type GrpcInferOptions } from './client/grpc-client.js';
export {
  InferenceRunCommand,
  inferenceRunParamsSchema,
  type InferenceRunParams,
} from './command/inference-run.js';
export { InferenceError, isInferenceError, type InferenceErrorCode } from './errors/inference-error.js';
export { InferenceOptionsToken, InferenceServiceToken } from './tokens.js';
