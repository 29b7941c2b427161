import type { ChecksumAlgorithm, Checksums } from '../checksums/checksum-format.js';
import { GridError, isGridError, type GridErrorCode } from '../errors/grid-error.js';
import type { HttpAttemptResult } from './http-download.js';
import type { HttpTransportOptions } from './http-transport.js';
import type { StallOptions } from './stall-watch.js';

/** What a transfer worker is started with (TLS material travels as data, never through logs or events). */
export interface TransferWorkerData {
  readonly transport: HttpTransportOptions;
}

/** One HTTP attempt, as sent to a transfer worker (everything but the callbacks of `HttpAttemptOptions`). */
export interface AttemptRequest {
  readonly url: string;
  readonly dest: string;
  readonly size: number | undefined;
  readonly expected: Checksums;
  readonly algorithms: ChecksumAlgorithm[];
  readonly segments: number;
  readonly segmentMinSize: number;
  readonly stall: StallOptions;
  readonly checkpointBytes: number;
  /** A bandwidth limit is in force: the worker asks the job's limiter before passing bytes on. */
  readonly rateLimited: boolean;
}

/** Main thread to worker. */
export type ToWorker =
  | { op: 'start'; id: number; request: AttemptRequest }
  | { op: 'abort'; id: number }
  /** The file is done or its `.part` was discarded: drop the hasher carried between its attempts. */
  | { op: 'forget'; dest: string }
  | { op: 'reply'; seq: number; headers?: Record<string, string>; error?: SerializedError }
  | { op: 'close'; destroy: boolean };

/** Worker to main thread. */
export type FromWorker =
  | { op: 'data'; id: number; bytes: number }
  | { op: 'resume'; id: number; offset: number; note: string }
  | { op: 'log'; id: number; text: string }
  | { op: 'auth'; id: number; seq: number }
  | { op: 'rate'; id: number; seq: number; bytes: number }
  | { op: 'done'; id: number; result: HttpAttemptResult }
  | { op: 'failed'; id: number; error: SerializedError }
  | { op: 'closed' };

/** A GridError as structured-clone data (its `cause` stays behind: it may hold request details). */
export interface SerializedError {
  code: GridErrorCode;
  message: string;
  retryable: boolean;
  details: Record<string, unknown>;
}

export function serializeError(e: unknown): SerializedError {
  const g = isGridError(e) ? e : new GridError('GRID_IO_FAILED', (e as Error | undefined)?.message ?? String(e));
  return { code: g.code, message: g.message, retryable: g.retryable, details: { ...g.details } };
}

export function deserializeError(s: SerializedError): GridError {
  return new GridError(s.code, s.message, { retryable: s.retryable, details: s.details });
}
