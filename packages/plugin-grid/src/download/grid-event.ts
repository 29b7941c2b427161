import type { ErrorInfo } from '@beamline/core';
import type { Checksums } from '../checksums/checksum-format.js';

/** How a file in the plan will be (or was) obtained. */
export type FileAction = 'download' | 'resume' | 'cache' | 'present';

/** One file of the plan: what comes from where into which path. */
export interface PlannedFile {
  readonly name: string;
  /** Absolute destination path. */
  readonly path: string;
  readonly size: number | undefined;
  /** Replica URLs in the order they will be tried (query values redacted). */
  readonly replicas: readonly string[];
  readonly checksums: Checksums;
  readonly action: FileAction;
  /** Bytes already in the `.part` when `action` is `resume`. */
  readonly resumeFrom?: number;
}

/** The outcome of one file. */
export interface FileResult {
  readonly name: string;
  readonly path: string;
  readonly size: number;
  /** Computed (and, where expected values existed, verified) checksums. */
  readonly checksums: Checksums;
  readonly source: 'network' | 'cache' | 'present';
  /** The replica it came from (redacted), for network downloads. */
  readonly url?: string;
}

/** Events of a download job, in order: `plan`, then per-file events, then `done` (not for a dry run's plan-only). */
export type GridEvent =
  | {
      readonly type: 'plan';
      readonly files: readonly PlannedFile[];
      readonly totalBytes: number;
      readonly fetchBytes: number;
      readonly dryRun: boolean;
    }
  | { readonly type: 'file-start'; readonly name: string; readonly url: string; readonly path: string }
  | {
      readonly type: 'progress';
      readonly name: string;
      /** Bytes of this file present so far (resumed + received). */
      readonly bytes: number;
      readonly size: number | undefined;
      /** This file's rate (bytes/s). */
      readonly rate: number;
      /** Bytes of all files done or present so far. */
      readonly totalBytes: number;
      readonly totalSize: number;
      /** Job rate (bytes/s) and its ETA in seconds, when it can be estimated. */
      readonly totalRate: number;
      readonly eta: number | undefined;
    }
  | {
      readonly type: 'resume';
      readonly name: string;
      readonly url: string;
      readonly offset: number;
      readonly message: string;
    }
  | {
      readonly type: 'retry';
      readonly name: string;
      readonly url: string;
      readonly attempt: number;
      readonly delayMs: number;
      readonly error: ErrorInfo;
    }
  | {
      readonly type: 'replica-switch';
      readonly name: string;
      readonly from: string;
      readonly to: string | undefined;
      readonly error: ErrorInfo;
    }
  | { readonly type: 'log'; readonly name?: string; readonly message: string }
  | { readonly type: 'file-done'; readonly file: FileResult }
  | { readonly type: 'file-failed'; readonly name: string; readonly path: string; readonly error: ErrorInfo }
  | {
      readonly type: 'done';
      readonly files: readonly FileResult[];
      /** Bytes that crossed the network in this job. */
      readonly transferred: number;
      readonly totalSize: number;
      readonly durationMs: number;
    };
