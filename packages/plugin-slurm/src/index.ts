export { createSlurmPlugin, type SlurmPluginOptions } from './plugin/create-slurm-plugin.js';
export { SlurmRunner, type SlurmRunnerOptions } from './runner/slurm-runner.js';
export {
  SlurmClient,
  SUPPORTED_API_VERSIONS,
  type ApiVersion,
  type JobSubmission,
  type PingResult,
  type SlurmConnectionOptions,
} from './client/slurm-client.js';
export type { JobExit, JobRecord, NodeInfo, PartitionInfo } from './client/records.js';
export { scontrolToken, type ScontrolTokenOptions, type TokenSource } from './client/token.js';
export { SlurmError, isSlurmError, type SlurmErrorCode } from './errors/slurm-error.js';
export {
  runJanitor,
  type SlurmJanitorEntry,
  type SlurmJanitorOptions,
  type SlurmJanitorReport,
} from './janitor/janitor.js';
export { decodeJobMark, type JobMark } from './job/job-comment.js';
export { MINIMAL_ENVIRONMENT, type EnvironmentExport } from './job/job-request.js';
export { SlurmOptionsToken, SlurmRunnersToken, SlurmRunnerToken } from './tokens.js';
