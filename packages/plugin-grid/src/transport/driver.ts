import type { ChecksumAlgorithm, Checksums } from '../checksums/checksum-format.js';
import type { HasherFactory } from '../checksums/hash-worker.js';
import type { TlsCredentials } from '../credentials/client-cert.js';
import type { DownloadOptions } from '../download/download-options.js';
import type { PartFile } from '../files/part-file.js';
import type { RateLimiter } from '../schedule/rate-limiter.js';

/**
 * A way to fetch replicas of some URL schemes into a `.part` file. plugin-grid ships two: HTTP(S)/WebDAV
 * (`http`, `https`, `dav`, `davs`, native) and xrdcp (`root`, `roots`, `xroot`, `xroots`, external tool).
 * More are registered through `DownloadOptions.drivers`, `createGridPlugin({ drivers })` or the
 * `GridTransferDriversToken` registry; a registered driver wins over a built-in one for its schemes.
 *
 * The job around a driver does everything else: which replica, retries and backoff, the stall watchdog
 * (through `attempt.signal`), size and checksum verification (checksums a driver does not report are
 * computed from the `.part`), the rename onto the final name, the cache, and cleanup after failures.
 */
export interface TransferDriver {
  /** Name for messages (`http`, `xrdcp`). */
  readonly name: string;
  /** URL schemes it handles: lower case, without `:` (`https`). */
  readonly schemes: readonly string[];
  /** Starts what one download job needs (a connection pool, a tool check); closed when the job ends. */
  open(job: TransferJob): TransferSession;
}

/** What a driver's session gets from the download job. */
export interface TransferJob {
  readonly options: DownloadOptions;
  /** Client certificate and CAs, loaded once per job (empty when none apply). */
  readonly tls: TlsCredentials;
  /** Authorization headers for a URL, read again for every request (tokens rotate; never logged). */
  authHeaders(url: string): Promise<Record<string, string>>;
  /** The job's bandwidth limit, shared by all transfers. */
  readonly rate: RateLimiter | undefined;
  /** Creates hashers that read the file as it grows (the job's hash worker thread). */
  readonly newHasher: HasherFactory;
}

/** A driver's state for one job. */
export interface TransferSession {
  /** One attempt at one replica of one file. */
  transfer(attempt: TransferAttempt): Promise<TransferResult>;
  /** Releases sockets and processes; `aborted`: at once, without draining. */
  close(aborted: boolean): Promise<void>;
}

/** One attempt: fill `part` from `url`, resuming what it may. */
export interface TransferAttempt {
  /** The replica URL (may carry secrets such as envelopes: never put it in messages; use `where`). */
  readonly url: string;
  /** The URL with credentials and query values redacted, for messages. */
  readonly where: string;
  /** Logical name of the file (messages). */
  readonly name: string;
  /** Expected size, when the list knows it. */
  readonly size: number | undefined;
  /** Expected checksums from the list (lower-case hex); may be empty. */
  readonly expected: Checksums;
  /** Checksums the job needs; a driver may compute them while writing, else the job reads the `.part`. */
  readonly algorithms: ReadonlySet<ChecksumAlgorithm>;
  /** The `.part` and its resume state, reached without following links. */
  readonly part: PartFile;
  /** Aborted when the job is cancelled or the stall watchdog fires: stop and return (throwing). */
  readonly signal: AbortSignal;
  /** Newly received bytes (progress and the stall watchdog). */
  onData(bytes: number): void;
  /** The attempt continues a `.part` at `offset` (progress starts there). */
  onResume(offset: number, message: string): void;
  /** A decision worth a log line (restart from zero, server ignored Range). */
  onLog(message: string): void;
}

/** A completed attempt: the `.part` holds `size` bytes, written and fdatasync'ed. */
export interface TransferResult {
  readonly size: number;
  /** Checksums computed over the `.part` while writing (any subset of `algorithms`). */
  readonly checksums?: Checksums;
  /** Checksums the server reported for the file (verified against the data when the list has none). */
  readonly serverDigests?: Checksums;
}

/** The scheme of a URL, lower case without `:`; undefined when it is not a URL. */
function urlScheme(url: string): string | undefined {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url);
  return m ? m[1]!.toLowerCase() : undefined;
}

/**
 * The drivers a job may use, looked up by scheme: later registrations win, so a plugin or application
 * can replace a built-in driver for a scheme. Iterable, and read when a job starts, so drivers that
 * other plugins register after the grid plugin still take part.
 */
export class TransferDriverRegistry implements Iterable<TransferDriver> {
  private readonly drivers: TransferDriver[] = [];

  constructor(drivers: Iterable<TransferDriver> = []) {
    for (const d of drivers) this.register(d);
  }

  /** Adds a driver; it takes precedence over earlier ones for its schemes. */
  register(driver: TransferDriver): void {
    this.drivers.push(driver);
  }

  /** The driver for a URL's scheme, or undefined. */
  forUrl(url: string): TransferDriver | undefined {
    const scheme = urlScheme(url);
    if (scheme === undefined) return undefined;
    for (let i = this.drivers.length - 1; i >= 0; i--)
      if (this.drivers[i]!.schemes.includes(scheme)) return this.drivers[i];
    return undefined;
  }

  /** Every scheme some driver handles (messages). */
  schemes(): string[] {
    return [...new Set(this.drivers.flatMap((d) => d.schemes))].sort();
  }

  [Symbol.iterator](): Iterator<TransferDriver> {
    return this.drivers[Symbol.iterator]();
  }
}
