export { createWebdavPlugin } from './plugin.js';
export type { WebdavPluginOptions } from './plugin-options.js';
export { WebdavOptionsToken, WebdavServiceToken } from './tokens.js';
export { WebdavService } from './service/webdav-service.js';
export { PublishCommand, publishParamsSchema, type PublishParams } from './publish/publish-command.js';
export {
  publishToShare,
  type PublishedFile,
  type PublishRequest,
  type PublishResult,
} from './publish/publish.js';
export {
  ShareServer,
  type HandleOptions,
  type ListenOptions,
  type OpenOptions,
  type ShareServerEvents,
  type ShareWarning,
} from './server/share-server.js';
export type { AccessEvent } from './server/access-log.js';
export {
  ShareCluster,
  type ClusterOptions,
  type ClusterWorkerInfo,
  type ShareClusterEvents,
  type WorkerChange,
} from './cluster/share-cluster.js';
export { attachShares, webdavExpress, webdavFastifyFactory, type AttachOptions } from './server/mount.js';
export { loadShareConfig, parseShareConfig } from './config/load-share-config.js';
export {
  defineShares,
  resolveShareConfig,
  type ResolveShareConfigOptions,
} from './config/resolve-share-config.js';
export type {
  Principal,
  ShareConfig,
  ShareConfigInput,
  ShareInput,
  ShareSettings,
  UserInput,
  UserSettings,
} from './config/share-config.js';
export { petricShares, type PetricSharesOptions } from './config/presets.js';
export { digestSecret, hashPassword, hashToken, newToken } from './config/password-hash.js';
export { WebdavError, isWebdavError, type WebdavErrorCode } from './errors/webdav-error.js';
