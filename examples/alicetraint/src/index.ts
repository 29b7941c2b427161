export {
  loadAgentConfig,
  GO_MODULE_VARIABLES,
  type AgentConfig,
  type LoadConfigOptions,
  type StageSet,
} from './config/agent-config.js';
export { AliceError, isAliceError, type AliceErrorCode } from './errors/alice-error.js';
