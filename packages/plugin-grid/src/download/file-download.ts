import type { ErrorInfo } from '@beamline/core';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChecksumCache } from '../cache/checksum-cache.js';
import { checksumMismatches, type ChecksumAlgorithm, type Checksums } from '../checksums/checksum-format.js';
import { hashExisting, type HasherFactory } from '../checksums/hash-worker.js';
import { GridError, isGridError } from '../errors/grid-error.js';
import type { PartFile } from '../files/part-file.js';
import type { GridFile, GridReplica } from '../model/grid-file.js';
import { retryDelay } from '../schedule/backoff.js';
import type { TransferLimiter } from '../schedule/semaphore.js';
import type { TransferAttempt, TransferResult, TransferSession } from '../transport/driver.js';
import { classifyFailure, toGridError } from '../transport/failure.js';
import { redactUrl } from '../transport/http-headers.js';
import { toHttpUrl } from '../transport/http-transport.js';
import { AttemptWatch } from './attempt-watch.js';
import type { DownloadOptions } from './download-options.js';
import type { FileResult, GridEvent } from './grid-event.js';
import type { FileProgress, ProgressTracker } from './progress-tracker.js';

/** What one file's download uses from its job. */
export interface FileDownloadServices {
  readonly options: DownloadOptions;
  readonly signal: AbortSignal;
  emit(e: GridEvent): void;
  readonly limiter: TransferLimiter;
  readonly progress: ProgressTracker;
  readonly cache: ChecksumCache | undefined;
  readonly newHasher: HasherFactory;
  /** The driver session for a URL's scheme (`GRID_UNSUPPORTED_SCHEME` when none). */
  session(url: string): TransferSession;
  /** Hosts that refused connections in this job: tried last by later files. */
  readonly badHosts: Set<string>;
}

/** What to do after a failed attempt. */
type NextStep = 'retry' | 'next-replica';

/** An attempt that gave its slot back unused: its host refused connections while it waited. */
const DEFERRED = Symbol('deferred');

/**
 * The replicas of one pass, in the order they are tried: hosts that refused connections earlier in
 * the job go last. The order is decided again when a transfer slot is granted, since a file may wait
 * for its slot while another file finds the host dead (a blackhole costs each file the connect timeout
 * otherwise): such a replica is put behind the others once.
 */
class ReplicaQueue {
  private readonly items: GridReplica[];
  private readonly deferred = new Set<GridReplica>();

  constructor(
    replicas: readonly GridReplica[],
    private readonly badHosts: ReadonlySet<string>,
  ) {
    this.items = [...replicas].sort((a, b) => Number(this.bad(a)) - Number(this.bad(b)));
  }

  next(): GridReplica | undefined {
    return this.items.shift();
  }

  peek(): GridReplica | undefined {
    return this.items[0];
  }

  /** Puts `replica` behind the others when its host is known dead and another host remains. */
  defer(replica: GridReplica): boolean {
    if (this.deferred.has(replica) || !this.bad(replica) || this.items.every((r) => this.bad(r)))
      return false;
    this.deferred.add(replica);
    this.items.push(replica);
    return true;
  }

  private bad(r: GridReplica): boolean {
    return this.badHosts.has(hostKey(r));
  }
}

/**
 * Downloads one file over the network: replicas in order (hosts that refused connections last), a
 * number of passes, attempts per replica with backoff (the count starts again after an attempt that
 * made progress), all within the file's time budget; then verification, the rename onto the final name
 * and the cache entry. A file that fails leaves no `.part` that could not be resumed.
 */
export class FileDownload {
  private readonly failures: GridError[] = [];
  private readonly deadline: number;
  private readonly progress: FileProgress;
  /** Failed attempts on the current replica since the last one that made progress. */
  private failuresHere = 0;
  /** Bytes the last attempt received. */
  private lastAttemptBytes = 0;

  constructor(
    private readonly job: FileDownloadServices,
    private readonly file: GridFile,
    private readonly part: PartFile,
    private readonly algorithms: ReadonlySet<ChecksumAlgorithm>,
  ) {
    this.deadline =
      performance.now() + (job.options.retry?.maxTimeMs ?? ((file.size ?? 0) / 500_000) * 1000 + 600_000);
    this.progress = job.progress.track(file.name, file.size);
  }

  async run(): Promise<FileResult> {
    try {
      const rounds = this.job.options.retry?.rounds ?? 2;
      for (let round = 0; round < rounds; round++) {
        const queue = new ReplicaQueue(this.file.replicas, this.job.badHosts);
        for (let replica = queue.next(); replica; replica = queue.next()) {
          const next =
            queue.peek() ??
            (round + 1 < rounds ? new ReplicaQueue(this.file.replicas, this.job.badHosts).peek() : undefined);
          const result = await this.fromReplica(replica, next, queue);
          if (result) return result;
        }
        // Non-retryable failures (401/403/404, no driver, no xrdcp) do not change on a second pass.
        if (this.failures.every((f) => !f.retryable)) break;
      }
      throw this.finalError();
    } catch (e) {
      if (!this.job.signal.aborted) await this.leaveNothingBehind();
      throw e;
    }
  }

  /** Attempts on one replica: the file's result, undefined to move on, or a thrown fatal error. */
  private async fromReplica(
    replica: GridReplica,
    next: GridReplica | undefined,
    queue: ReplicaQueue,
  ): Promise<FileResult | undefined> {
    const where = redactUrl(replica.url);
    this.failuresHere = 0;
    for (;;) {
      let error: GridError;
      try {
        const result = await this.attempt(
          replica,
          where,
          () => this.failuresHere === 0 && queue.defer(replica),
        );
        if (result === DEFERRED) {
          this.job.emit({
            type: 'log',
            name: this.file.name,
            message: `${where} refused connections earlier in this job: trying the other replicas first`,
          });
          return undefined;
        }
        return await this.complete(result, where);
      } catch (e) {
        error = toGridError(e, where);
      }
      if ((await this.afterFailure(error, replica, where, next)) === 'next-replica') return undefined;
    }
  }

  /**
   * One transfer from a replica into the `.part`, holding a transfer slot, under the stall watchdog;
   * `DEFERRED` (the slot given back) when `defer` says so once the slot is granted.
   */
  private async attempt(
    replica: GridReplica,
    where: string,
    defer: () => boolean,
  ): Promise<TransferResult | typeof DEFERRED> {
    this.lastAttemptBytes = 0;
    const session = this.job.session(replica.url);
    const release = await this.job.limiter.acquire(hostKey(replica), this.job.signal);
    if (defer()) {
      release();
      return DEFERRED;
    }
    const watch = new AttemptWatch(this.job.signal, where, {
      minBytesPerSec: this.job.options.stall?.minBytesPerSec ?? 100 * 1024,
      windowMs: this.job.options.stall?.windowMs ?? 30_000,
    });
    this.progress.bytes = 0;
    this.job.progress.activate(this.progress);
    this.job.emit({ type: 'file-start', name: this.file.name, url: where, path: this.part.finalPath });
    try {
      return await session.transfer(this.attemptFor(replica.url, where, watch));
    } catch (e) {
      throw watch.explain(e, where);
    } finally {
      watch.stop();
      release();
      this.job.progress.deactivate(this.progress);
      this.lastAttemptBytes = watch.bytes;
    }
  }

  private attemptFor(url: string, where: string, watch: AttemptWatch): TransferAttempt {
    const { file, job, progress } = this;
    return {
      url,
      where,
      name: file.name,
      size: file.size,
      expected: file.checksums,
      algorithms: this.algorithms,
      part: this.part,
      signal: watch.signal,
      onData: (n) => {
        watch.add(n);
        progress.bytes += n;
        job.progress.transferred += n;
      },
      onResume: (offset, message) => {
        progress.bytes = offset;
        if (message !== 'restart') job.emit({ type: 'resume', name: file.name, url: where, offset, message });
      },
      onLog: (message) => job.emit({ type: 'log', name: file.name, message }),
    };
  }

  /**
   * Decides after a failed attempt: wrong content is removed (it must not seed a resume elsewhere);
   * fatal errors and a used-up time budget throw; retryable ones wait (backoff, or the server's
   * Retry-After) and retry while this replica has attempts left; the rest move to the next replica.
   */
  private async afterFailure(
    err: GridError,
    replica: GridReplica,
    where: string,
    next: GridReplica | undefined,
  ): Promise<NextStep> {
    if (this.job.signal.aborted)
      throw new GridError('GRID_ABORTED', 'download aborted; the .part file is kept for resume', {
        cause: this.job.signal.reason,
      });
    if (err.code === 'GRID_CHECKSUM_MISMATCH' || err.code === 'GRID_SIZE_MISMATCH') await this.part.remove();
    const action = classifyFailure(err);
    if (action === 'fatal') throw err;
    // An attempt that moved bytes restarts the count: a flaky link that keeps delivering is not a dead one.
    this.failuresHere = this.lastAttemptBytes > 0 ? 1 : this.failuresHere + 1;
    const left = this.deadline - performance.now();
    if (action === 'retry' && this.failuresHere < (this.job.options.retry?.perReplica ?? 4)) {
      const delay = retryDelay(
        this.failuresHere,
        err.details.retryAfterMs as number | undefined,
        this.job.options.retry?.backoff ?? {},
      );
      if (delay > left) throw this.timeUp(err);
      this.job.emit({
        type: 'retry',
        name: this.file.name,
        url: where,
        attempt: this.failuresHere,
        delayMs: delay,
        error: errorInfo(err),
      });
      await sleep(delay, undefined, { signal: this.job.signal }).catch(() => undefined);
      return 'retry';
    }
    this.failures.push(err);
    if (err.code === 'GRID_CONNECT_FAILED') this.job.badHosts.add(hostKey(replica));
    this.job.emit({
      type: 'replica-switch',
      name: this.file.name,
      from: where,
      to: next && redactUrl(next.url),
      error: errorInfo(err),
    });
    if (left <= 0) throw this.timeUp(err);
    return 'next-replica';
  }

  /**
   * Verifies a transfer (computing the checksums its driver did not), makes it visible under the final
   * name, and adds it to the cache.
   */
  private async complete(result: TransferResult, where: string): Promise<FileResult> {
    const checksums = await this.withAllChecksums(result);
    this.verify(where, result.size, checksums, result.serverDigests ?? {});
    await this.part.finalize();
    this.job.progress.doneBytes += result.size;
    const path = this.part.finalPath;
    // A cache failure only means no cache entry: the file itself is verified and in place. The keys the
    // list gave (name and size when it had no checksum) too, or the next job of that list never finds it.
    const keys = new Set([
      ...ChecksumCache.keys(this.file.name, result.size, checksums),
      ...ChecksumCache.keys(this.file.name, this.file.size ?? result.size, this.file.checksums),
    ]);
    await this.job.cache?.insert(path, [...keys], checksums).catch(() => undefined);
    return { name: this.file.name, path, size: result.size, checksums, source: 'network', url: where };
  }

  private async withAllChecksums(result: TransferResult): Promise<Checksums> {
    const have = result.checksums ?? {};
    const missing = [...this.algorithms].filter((a) => have[a] === undefined);
    if (missing.length === 0) return have;
    const hasher = this.job.newHasher(this.part.path, new Set(missing));
    await hashExisting(hasher, result.size, this.job.signal);
    return { ...have, ...(await hasher.digest()).checksums };
  }

  /** Size and checksums against the list (or, lacking checksums there, the server's validated Digest). */
  private verify(where: string, size: number, checksums: Checksums, serverDigests: Checksums): void {
    if (this.file.size !== undefined && size !== this.file.size) {
      throw new GridError('GRID_SIZE_MISMATCH', `${where}: got ${size} bytes, expected ${this.file.size}`, {
        retryable: true,
      });
    }
    const expected = Object.keys(this.file.checksums).length > 0 ? this.file.checksums : serverDigests;
    const bad = checksumMismatches(expected, checksums);
    if (bad.length > 0) {
      throw new GridError(
        'GRID_CHECKSUM_MISMATCH',
        `${where}: ${bad.map((a) => `${a} ${checksums[a]} != expected ${expected[a]}`).join(', ')}`,
        {
          retryable: true,
          details: { algorithms: bad },
        },
      );
    }
  }

  /**
   * After the file failed for good: removes its `.part` and state unless they can be resumed later (a
   * non-empty `.part` with a validator or expected checksums), so a refused file leaves nothing.
   */
  private async leaveNothingBehind(): Promise<void> {
    try {
      const state = await this.part.readState();
      const size = await this.part.size();
      const resumable =
        state !== undefined &&
        size !== undefined &&
        size > 0 &&
        (state.validator !== undefined || Object.keys(state.expected).length > 0);
      if (!resumable) await this.part.remove();
    } catch {
      // The original failure is the one worth reporting.
    }
  }

  private timeUp(err: GridError): GridError {
    return new GridError(
      'GRID_RETRY_TIMEOUT',
      `${this.file.name}: retry time used up (last: ${err.message})`,
      { cause: err, retryable: true },
    );
  }

  /** The error that ends the file: all refusals, one non-retryable failure, or replicas exhausted. */
  private finalError(): GridError {
    const failures = this.failures;
    const refusal =
      failures.find((f) => f.code === 'GRID_UNAUTHORIZED') ??
      failures.find((f) => f.code === 'GRID_NOT_FOUND');
    if (refusal && failures.every((f) => !f.retryable)) {
      return new GridError(
        refusal.code,
        `${this.file.name}: every replica refused it (${failures.map((f) => f.message).join('; ')})`,
        {
          cause: refusal,
          retryable: false,
          details: refusal.details,
        },
      );
    }
    if (failures.length === 1 && !failures[0]!.retryable) return failures[0]!;
    return new GridError(
      'GRID_REPLICAS_EXHAUSTED',
      `${this.file.name}: all ${this.file.replicas.length} replicas failed (${failures.map((f) => f.message).join('; ')})`,
      {
        cause: failures[failures.length - 1],
        retryable: true,
        details: { attempts: failures.map((f) => ({ code: f.code, message: f.message })) },
      },
    );
  }
}

/** The limiter key of a replica: its storage element when known, else host:port. */
function hostKey(r: GridReplica): string {
  if (r.se) return `se:${r.se}`;
  try {
    const u = new URL(toHttpUrl(r.url));
    return `${u.hostname}:${u.port || defaultPort(u.protocol)}`;
  } catch {
    return r.url;
  }
}

function defaultPort(protocol: string): string {
  return protocol === 'https:' ? '443' : protocol === 'http:' ? '80' : '1094';
}

/** The serialisable summary of an error for events. */
export function errorInfo(e: unknown): ErrorInfo {
  const g = isGridError(e) ? e : toGridError(e, 'download');
  return { code: g.code, message: g.message, retryable: g.retryable };
}
