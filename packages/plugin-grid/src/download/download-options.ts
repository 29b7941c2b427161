import type { BackoffPolicy } from '@beamline/core';
import type { ChecksumAlgorithm } from '../checksums/checksum-format.js';
import type { ClientCertOptions } from '../credentials/client-cert.js';
import type { ReplicaResolver } from '../inputs/alice-traint.js';
import type { TransferDriver } from '../transport/driver.js';
import type { XrdcpOptions } from '../transport/xrdcp-driver.js';

/** Credentials for storage. Secrets given here never appear in events, logs or errors. */
export interface GridCredentials {
  /** X.509 client certificate: a `.p12` (with passphrase), PEM files, or `'env'` (X509_USER_PROXY / X509_USER_CERT). */
  readonly clientCert?: ClientCertOptions;
  /** Directory of trusted CA certificates (IGTF layout); default `$X509_CERT_DIR` when set. */
  readonly caDir?: string;
  /**
   * A bearer token, `'discover'` (WLCG discovery order, re-read before each request), or false.
   * Default `'discover'`. Sent to https URLs, and to plain http only on loopback (it would travel in clear).
   */
  readonly bearerToken?: string | false;
  /** Environment for discovery (tests); default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Options of one download job. */
export interface DownloadOptions {
  /** Destination directory; each file's `dest` is relative to it. */
  readonly dest: string;
  /** Files transferred at once. Default 4. */
  readonly parallel?: number;
  /** Files (and sockets) at once per storage element / host. Default 2. */
  readonly perHost?: number;
  /** Job-wide bandwidth cap in bytes/s. */
  readonly bandwidthLimit?: number;
  /** Range segments for one large file (HTTP only). Default 1 (off): it did not help on loopback or LAN. */
  readonly segments?: number;
  /** Files smaller than this are never segmented. Default 256 MiB. */
  readonly segmentMinSize?: number;
  /** Checksums to compute besides the expected ones (`sha256` for artifact records). */
  readonly checksums?: readonly ChecksumAlgorithm[];
  /** Shared content cache directory. */
  readonly cacheDir?: string;
  /** Plan only: emit the plan and stop, transferring and writing nothing. */
  readonly dryRun?: boolean;
  /** Skip a destination that already holds the expected content. Default true. */
  readonly skipExisting?: boolean;
  /** Turns logical names without replicas into replica URLs (JAliEn, Rucio). */
  readonly resolveReplicas?: ReplicaResolver;
  readonly credentials?: GridCredentials;
  readonly retry?: {
    /** Attempts on one replica before moving on. Default 4. */
    readonly perReplica?: number;
    /** Passes over the replica list. Default 2. */
    readonly rounds?: number;
    /** Bound on one file's total time across retries and replicas (ms). Default size / 500 KB/s + 10 min. */
    readonly maxTimeMs?: number;
    /** Retry timing on core's backoff rule; default 0.5 s doubling to 30 s, ±50 %. A server's Retry-After wins. */
    readonly backoff?: Partial<BackoffPolicy>;
  };
  /** Below `minBytesPerSec` for `windowMs` the replica counts as stalled. Default 100 KiB/s over 30 s. */
  readonly stall?: { readonly minBytesPerSec?: number; readonly windowMs?: number };
  readonly timeouts?: { readonly connectMs?: number; readonly headersMs?: number; readonly bodyMs?: number };
  /** Progress events at most this often per file (ms). Default 500. */
  readonly progressIntervalMs?: number;
  /**
   * fsync and record durable progress every this many bytes (per segment). Default 64 MiB. A segmented
   * download also saves its progress after every written batch (a few MiB), so a killed process loses
   * little; one stream resumes from the `.part`'s length.
   */
  readonly checkpointBytes?: number;
  readonly xrdcp?: XrdcpOptions;
  /**
   * More transfer drivers (for other URL schemes, or replacing a built-in one for its schemes); tried
   * before the built-in HTTP(S)/WebDAV and xrdcp drivers. Read when the job starts.
   */
  readonly drivers?: Iterable<TransferDriver>;
  /** Cancels the job; `.part` files stay for a later resume. */
  readonly signal?: AbortSignal;
}
