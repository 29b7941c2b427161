export { PostgresStore, type PostgresStoreOptions, type QueueJobRecord } from './store/postgres-store.js';
export type { ConnectionOptions } from './database/connect.js';
export { createPostgresPlugin, type PostgresPluginOptions } from './plugin/postgres-plugin.js';
export { ArtifactShare, type ArtifactShareOptions, type SharedDigest } from './artifacts/artifact-share.js';
export { QueueConnection, type QueueConnectionOptions } from './queue/queue-connection.js';
export { QueueWorker, type QueueWorkerOptions } from './worker/queue-worker.js';
export { startWorker, type StartWorkerOptions, type StartedWorker } from './worker/start-worker.js';
export { parseLabels, type LabelSet } from './queue/requirement.js';
export { PostgresError, isPostgresError, type PostgresErrorCode } from './errors/postgres-error.js';
export { PostgresWorkerQueue } from './worker/postgres-worker-queue.js';
export type {
  WorkerQueue,
  ClaimedJob,
  QueueCandidate,
  HeartbeatReply,
  OutputChunk,
  JobEnd,
} from './worker/worker-queue.js';
export { HttpWorkerQueue, type GatewayClientOptions } from './gateway/http-worker-queue.js';
export { startGateway, type GatewayOptions, type StartedGateway } from './gateway/gateway-server.js';
export { GatewayTokens, type GatewayTokenInfo } from './gateway/gateway-tokens.js';
