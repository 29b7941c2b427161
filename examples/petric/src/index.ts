export { BudgetClock } from './metrics/budget-clock.js';
export { passIndex, ThresholdWindow } from './metrics/early-stop.js';
export { QualityMetrics, type Mask, type Reference } from './metrics/quality-metrics.js';
export { THRESHOLD, thresholdFor } from './metrics/thresholds.js';
export { collectRuns, THRESHOLDS_DIR, type CollectOptions, type CollectWarning } from './ranking/collect.js';
export { LEADERBOARD_FILES, writeLeaderboard } from './ranking/leaderboard.js';
export { passTime, type LogResult } from './ranking/pass-time.js';
export { rank, type DatasetRow, type Ranking, type VersionRuns } from './ranking/rank.js';
export { leaderboardJson, leaderboardMarkdown, ranksSvg } from './ranking/render.js';
export { crc32c, maskedCrc32c } from './tensorboard/crc32c.js';
export { EventFileWriter, type EventFileOptions } from './tensorboard/event-file.js';
export { readEventFile, type EventFileScalars, type ScalarPoint } from './tensorboard/event-reader.js';
export { writeThresholdsLog } from './tensorboard/thresholds-log.js';
export type { RecordTail } from './tensorboard/tfrecord.js';
export {
  challengePaths,
  connectDocker,
  PIPELINE_NAME,
  runChallenge,
  stepId,
  submit,
  type ChallengeResult,
  type RunOptions,
  type SubmitOptions,
} from './challenge.js';
export { datasetDigest, loadReference, REFERENCE_DIR, type LoadedReference } from './data/dataset.js';
export { readInterfile, writeInterfile, type Volume } from './data/interfile.js';
export {
  blend,
  DEMO_KERNEL,
  demoBlur,
  makePhantom,
  writeDemoDataset,
  writePhantomDataset,
  type Phantom,
  type PhantomOptions,
} from './data/phantom.js';
export { PetricError, type PetricErrorCode } from './errors.js';
export { createPetricPlugin } from './plugin.js';
export {
  createEvaluateCommand,
  evaluateParamsSchema,
  type DockerAccess,
  type EvaluateParams,
  type Outcome,
} from './run/evaluate-command.js';
export { containerFreezer, processGroupFreezer, type Freezer, type PausableDocker } from './run/freezer.js';
export { listSubmissions, saveSubmission, type Submission } from './submissions.js';
export { startServer, type PetricServer, type ServeOptions } from './server/serve.js';
