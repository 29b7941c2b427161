import 'reflect-metadata';

export type { Artifact } from './contracts/artifact.js';
export type {
  Command,
  CommandContext,
  CommandDefinition,
  StepEvent,
  StepOutputs,
} from './contracts/command.js';
export { defineCommand, STEP_LABELS } from './contracts/command.js';
export type {
  CacheKeyParts,
  ErrorInfo,
  RunEvent,
  RunEventInit,
  RunEventMap,
  RunEventOf,
  RunEventType,
  StepProcess,
} from './contracts/events.js';
export { RUN_TERMINAL_TYPES, STEP_TERMINAL_TYPES } from './contracts/events.js';
export type {
  ParamDefinition,
  PipelineDefinition,
  Plan,
  PlannedStep,
  RetryPolicy,
  StepDefinition,
} from './contracts/pipeline.js';
export type { InjectableClass, Plugin, PluginRegistry, PluginStartContext } from './contracts/plugin.js';
export type { ResourceCapacity, ResourceGrant, ResourceRequest } from './contracts/resources.js';
export type {
  ExecOptions,
  ExitReason,
  Mount,
  OrphanOutcome,
  ProcessEvent,
  ProcessFiles,
  ProcessSpec,
  Runner,
  RunnerIdentityRequest,
  RunnerLookup,
} from './contracts/runner.js';
export type {
  Clock,
  EventSink,
  Explanation,
  KeyChange,
  RunHandle,
  RunOptions,
  RunResult,
  Runtime,
  RuntimeConfig,
  RuntimeEvent,
  RuntimeEventInit,
  RuntimeEventLevel,
  RuntimeEventMap,
  RuntimeOptions,
} from './contracts/runtime.js';
export type { Service, ServiceAddress, ServiceHealth } from './contracts/service.js';
export type { StandardSchemaV1 } from './contracts/standard-schema.js';
export type {
  CacheRecord,
  CollectGarbageOptions,
  GarbageReport,
  ListRunsOptions,
  ReadEventsOptions,
  RetentionPolicy,
  RunOwner,
  RunRecord,
  RunState,
  RunStatus,
  RunSummary,
  StepState,
  StepStatus,
  Store,
} from './contracts/store.js';
export {
  BeamlineError,
  isBeamlineError,
  isRetryable,
  type BeamlineErrorOptions,
} from './errors/beamline-error.js';
export { CoreError, isCoreError, type CoreErrorCode } from './errors/core-error.js';
export { createToken, type Token } from './di/token.js';
export { Tokens } from './di/tokens.js';
// Plugins decorate with core's copy of tsyringe, so every class lands in the one registry the runtime reads.
export { inject, injectable } from './di/tsyringe.js';
export { loadPipelineFile, parsePipeline } from './pipeline/load-pipeline-file.js';
export { planPipeline, DEFAULT_RETRY_POLICY, type PlanPipelineOptions } from './pipeline/plan-pipeline.js';
export { resolveStepParams } from './pipeline/resolve-step-params.js';
export { parseParamAssignments } from './pipeline/parse-param-assignments.js';
export { parseDuration } from './pipeline/parse-duration.js';
export { parseMemory } from './pipeline/parse-memory.js';
export { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './util/backoff.js';
export type { PipelineIssueDetail } from './pipeline/pipeline-issue.js';
export { createRuntime } from './runtime/create-runtime.js';
export { ResourcePool, type Lease } from './resources/resource-pool.js';
export { defaultCapacity, detectGpuIds } from './resources/default-capacity.js';
export { LocalProcessRunner, DEFAULT_KILL_GRACE_MS } from './runners/local-process-runner.js';
export { ExecCommand, execParamsSchema, CONTAINER_WORKDIR, type ExecParams } from './commands/exec.js';
export { collectArtifacts, type CollectedOutputs } from './commands/collect-artifacts.js';
export { MemoryStore } from './store/memory-store.js';
export { SqliteStore, type SqliteStoreOptions, type StoreWarning } from './store/sqlite-store.js';
export { applyRunEvent, initialRunState, reduceRunState } from './store/run-state.js';
export { parseMarker, type StepMarker } from './commands/step-markers.js';
export { digestFile, type FileDigest } from './util/digest-file.js';
export { formatBytes, formatDuration } from './util/format.js';
export { escapeText, quoteText } from './util/quote-text.js';
export { reservedKeyPaths } from './util/own-keys.js';
export { currentProcessIdentity, hostBootId, recordedProcessGone } from './process/process-identity.js';
export { recordProcesses } from './engine/record-processes.js';
export { describeRecordedWork, stopRecordedWork } from './engine/stop-recorded-work.js';
