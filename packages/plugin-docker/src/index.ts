export { createDockerPlugin, type DockerPluginOptions } from './plugin/create-docker-plugin.js';
export { DockerRunner, type DockerRunnerOptions } from './runner/docker-runner.js';
export { DockerError, isDockerError, type DockerErrorCode } from './errors/docker-error.js';
export { createDockerClient, type DockerConnectionOptions } from './client/docker-client.js';
export {
  builtinProfiles,
  defaultProfile,
  defineDockerProfile,
  dockerProfileSchema,
  treProfile,
  type DockerProfile,
  type DockerProfileInput,
} from './profiles/docker-profile.js';
export {
  containerSpecSchema,
  parseContainerSpec,
  type ContainerSpec,
  type ContainerSpecInput,
} from './spec/container-spec.js';
export type { ResolvedJob, JobWorkspace } from './spec/resolve-spec.js';
export type { ContainerCreateBody } from './spec/create-body.js';
export { dryRunJob, type DryRunResult } from './dry-run/dry-run.js';
export { runJanitor, type JanitorEntry, type JanitorOptions, type JanitorReport } from './janitor/janitor.js';
export { pullImage, type PullOptions, type PullPolicy, type PullResult } from './images/pull-image.js';
export { buildImage, type BuildOptions, type BuildResult } from './images/build-image.js';
export { loadImage, type LoadResult } from './images/load-image.js';
export type { ProgressMessage } from './images/progress.js';
export {
  DockerBuildCommand,
  DockerLoadCommand,
  DockerPullCommand,
  type BuildParams,
  type LoadParams,
  type PullParams,
} from './images/image-commands.js';
export { parseImageRef, buildTags, type ImageRef } from './naming/image-ref.js';
export { DEFAULT_LABEL_NAMESPACE, labelKeys, ownerFilter, type Ownership } from './naming/labels.js';
export { exitStatus, shellExitCode, type ExitStatus } from './runner/exit-status.js';
export { exitError } from './runner/exit-error.js';
export { DockerClientToken, DockerRunnerToken } from './tokens.js';
