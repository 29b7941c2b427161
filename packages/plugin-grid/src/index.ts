export { createGridPlugin, type GridDownloader } from './plugin.js';
export type { GridPluginOptions } from './plugin-options.js';
export { GridDownloaderToken, GridTransferDriversToken } from './tokens.js';
export {
  GridDownloadCommand,
  gridDownloadParamsSchema,
  type GridDownloadParams,
} from './command/grid-download-command.js';
export { download, planDownload } from './download/downloader.js';
export type { DownloadOptions, GridCredentials } from './download/download-options.js';
export {
  TransferDriverRegistry,
  type TransferAttempt,
  type TransferDriver,
  type TransferJob,
  type TransferResult,
  type TransferSession,
} from './transport/driver.js';
export type { PartFile, PartState, PartSegment } from './files/part-file.js';
export type { FileAction, FileResult, GridEvent, PlannedFile } from './download/grid-event.js';
export { GridError, isGridError, type GridErrorCode } from './errors/grid-error.js';
export {
  toGridFile,
  gridFileInputSchema,
  type GridFile,
  type GridFileInput,
  type GridReplica,
} from './model/grid-file.js';
export { parseMetalink } from './inputs/metalink.js';
export {
  fromAliceTraint,
  aliceAodFileSchema,
  type AliceAodFile,
  type ReplicaResolver,
  type ResolvedReplicas,
} from './inputs/alice-traint.js';
export { loadInputFile, parseInput } from './inputs/load-input.js';
export { adler32, adler32Combine, adler32Update, formatAdler32 } from './checksums/adler32.js';
export type { ChecksumAlgorithm, Checksums } from './checksums/checksum-format.js';
export { discoverBearerToken, type DiscoveredToken, type TokenSource } from './credentials/bearer-token.js';
export type { ClientCertOptions } from './credentials/client-cert.js';
