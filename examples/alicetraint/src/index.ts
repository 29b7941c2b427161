export {
  loadAgentConfig,
  GO_MODULE_VARIABLES,
  type AgentConfig,
  type LoadConfigOptions,
  type StageSet,
} from './config/agent-config.js';
export { AliceError, isAliceError, type AliceErrorCode } from './errors/alice-error.js';
export {
  AliceClient,
  type AliceClientOptions,
  type HeartbeatAnswer,
  type ResultUpload,
} from './client/alice-client.js';
export {
  CCDB_MODEL_NAMES,
  queuedTaskSchema,
  ResultType,
  TaskStatus,
  type MachineStatus,
  type QueuedTask,
} from './client/wire.js';
export { AliceAgent, type AgentOptions, type TaskOutcome } from './agent/agent.js';
export { createAliceTraintPlugin, type AliceTraintPluginOptions } from './agent/commands.js';
export {
  buildTaskPipeline,
  taskFolders,
  type TaskFolders,
  type TaskPipelineOptions,
} from './agent/task-pipeline.js';
export { Coordinator, type CoordinatorOptions, type TaskView } from './coordinator/coordinator.js';
