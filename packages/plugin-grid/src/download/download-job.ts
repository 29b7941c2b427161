import { basename, dirname, resolve } from 'node:path';
import { ChecksumCache } from '../cache/checksum-cache.js';
import { checksumMismatches, type ChecksumAlgorithm } from '../checksums/checksum-format.js';
import { HashWorkerPool, type HasherFactory } from '../checksums/hash-worker.js';
import { hashFile } from '../checksums/multi-hasher.js';
import { GridError } from '../errors/grid-error.js';
import { printable } from '../errors/printable.js';
import { DestLock } from '../files/dest-lock.js';
import { PartFile, resumableBytes } from '../files/part-file.js';
import { SafeDir } from '../files/safe-dir.js';
import { resolveFiles } from '../inputs/alice-traint.js';
import type { GridFile } from '../model/grid-file.js';
import { RateLimiter } from '../schedule/rate-limiter.js';
import { TransferLimiter } from '../schedule/semaphore.js';
import {
  TransferDriverRegistry,
  type TransferDriver,
  type TransferJob,
  type TransferSession,
} from '../transport/driver.js';
import { toGridError } from '../transport/failure.js';
import { httpDriver } from '../transport/http-driver.js';
import { redactUrl } from '../transport/http-headers.js';
import { xrdcpDriver } from '../transport/xrdcp-driver.js';
import { checkDestinations } from './destination-check.js';
import type { DownloadOptions } from './download-options.js';
import { errorInfo, FileDownload, type FileDownloadServices } from './file-download.js';
import type { FileResult, GridEvent, PlannedFile } from './grid-event.js';
import { JobCredentials } from './job-credentials.js';
import { ProgressTracker } from './progress-tracker.js';

/** Files planned at once (each holds a few directory handles while it is looked at). */
const PLAN_CONCURRENCY = 16;

/**
 * One download job: checks the list, locks the destination, plans every file, then transfers them under
 * the global and per-host limits, largest first. Every file ends as `file-done` or `file-failed`; the job
 * ends with `done`, then fails with `GRID_FILES_FAILED` when a file failed.
 */
export class DownloadJob {
  private readonly destDir: string;
  private readonly progress: ProgressTracker;
  private readonly cache: ChecksumCache | undefined;
  private hashPool: HashWorkerPool | undefined;
  private readonly failures: Array<{ name: string; error: GridError }> = [];

  constructor(
    private readonly files: readonly GridFile[],
    private readonly o: DownloadOptions,
    private readonly signal: AbortSignal,
    private readonly emit: (e: GridEvent) => void,
  ) {
    this.destDir = resolve(o.dest);
    this.progress = new ProgressTracker(emit);
    this.cache = o.cacheDir ? new ChecksumCache(resolve(o.cacheDir)) : undefined;
  }

  async run(): Promise<void> {
    const started = performance.now();
    this.checkInput();
    const files = await resolveFiles(this.files, this.o.resolveReplicas, this.signal);
    const dryRun = this.o.dryRun === true;
    await this.inDestination(dryRun, async (root) => {
      const plan = await this.planAll(files, root);
      this.emitPlan(plan, dryRun);
      if (dryRun || !root) return;
      const results = await this.transferAll(files, plan, root);
      this.throwIfAborted();
      const { transferred, totalSize } = this.progress;
      this.emit({
        type: 'done',
        files: results,
        transferred,
        totalSize,
        durationMs: performance.now() - started,
      });
    });
    this.throwIfFailed(files.length);
  }

  /** Refuses a bad `dest` or list before anything is asked or written (destinations do not depend on replicas). */
  private checkInput(): void {
    if (this.o.dest.includes('\0')) {
      const dest = printable(this.o.dest);
      throw new GridError('GRID_DEST_INVALID', `destination directory ${dest} contains a NUL character`);
    }
    checkDestinations(this.files);
  }

  /** Runs `work` with the destination directory open (created) and locked; a dry run only reads it. */
  private async inDestination(
    dryRun: boolean,
    work: (root: SafeDir | undefined) => Promise<void>,
  ): Promise<void> {
    const root = await SafeDir.openRoot(this.destDir, !dryRun);
    try {
      const lock = root && !dryRun ? await DestLock.acquire(root) : undefined;
      try {
        await work(root);
      } finally {
        await lock?.release().catch(() => undefined);
      }
    } finally {
      await root?.close();
    }
  }

  private emitPlan(plan: PlannedFile[], dryRun: boolean): void {
    this.progress.totalSize = plan.reduce((n, p) => n + (p.size ?? 0), 0);
    const toFetch = (p: PlannedFile) =>
      p.action === 'download' || p.action === 'resume' ? (p.size ?? 0) - (p.resumeFrom ?? 0) : 0;
    const fetchBytes = plan.reduce((n, p) => n + toFetch(p), 0);
    this.emit({ type: 'plan', files: plan, totalBytes: this.progress.totalSize, fetchBytes, dryRun });
  }

  /** Transfers every file, largest first (the long transfers start early, small ones fill the gaps). */
  private async transferAll(
    files: readonly GridFile[],
    plan: readonly PlannedFile[],
    root: SafeDir,
  ): Promise<FileResult[]> {
    const credentials = await JobCredentials.load(files, this.o);
    const sessions = new DriverSessions(this.o, {
      options: this.o,
      tls: credentials.tls,
      authHeaders: (url) => credentials.authHeaders(url),
      rate: this.o.bandwidthLimit ? new RateLimiter(this.o.bandwidthLimit) : undefined,
      newHasher: this.newHasher,
    });
    const services: FileDownloadServices = {
      options: this.o,
      signal: this.signal,
      emit: this.emit,
      limiter: new TransferLimiter(this.o.parallel ?? 4, this.o.perHost ?? 2),
      progress: this.progress,
      cache: this.cache,
      newHasher: this.newHasher,
      session: (url) => sessions.forUrl(url),
      badHosts: new Set<string>(),
    };
    const results: FileResult[] = [];
    this.progress.start(this.o.progressIntervalMs ?? 500);
    try {
      const order = files
        .map((f, i) => ({ f, p: plan[i]! }))
        .sort((a, b) => (b.f.size ?? 0) - (a.f.size ?? 0));
      await Promise.all(
        order.map(async ({ f, p }) => {
          try {
            const r = await this.obtain(f, p, root, (part) =>
              new FileDownload(services, f, part, this.algorithmsFor(f)).run(),
            );
            results.push(r);
            this.emit({ type: 'file-done', file: r });
          } catch (e) {
            const err = toGridError(e, f.name);
            this.failures.push({ name: f.name, error: err });
            this.emit({ type: 'file-failed', name: f.name, path: p.path, error: errorInfo(err) });
          }
        }),
      );
    } finally {
      this.progress.stop();
      await sessions.close(this.signal.aborted);
      await this.hashPool?.close();
    }
    return results;
  }

  private throwIfAborted(): void {
    if (this.signal.aborted) {
      throw new GridError('GRID_ABORTED', 'download aborted; .part files are kept for resume', {
        retryable: false,
        cause: this.signal.reason,
      });
    }
  }

  private throwIfFailed(total: number): void {
    if (this.failures.length === 0) return;
    const first = this.failures[0]!;
    throw new GridError(
      'GRID_FILES_FAILED',
      `${this.failures.length} of ${total} files failed; first: ${first.error.message}`,
      {
        cause: first.error,
        retryable: this.failures.some((f) => f.error.retryable),
        details: {
          failed: this.failures.map((f) => ({ name: f.name, code: f.error.code, message: f.error.message })),
        },
      },
    );
  }

  private readonly newHasher: HasherFactory = (path, algorithms, start) =>
    (this.hashPool ??= new HashWorkerPool()).create(path, algorithms, start);

  private algorithmsFor(file: GridFile): Set<ChecksumAlgorithm> {
    const algs = new Set<ChecksumAlgorithm>([
      ...(this.o.checksums ?? []),
      ...(Object.keys(file.checksums) as ChecksumAlgorithm[]),
    ]);
    // With nothing to compare against, adler32 is cheap and lets a server's Digest be checked.
    if (Object.keys(file.checksums).length === 0) algs.add('adler32');
    return algs;
  }

  /** Plans all files, a few at a time; a link inside the destination fails the whole job here. */
  private async planAll(files: readonly GridFile[], root: SafeDir | undefined): Promise<PlannedFile[]> {
    const plan: PlannedFile[] = new Array<PlannedFile>(files.length);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < files.length; i = next++) plan[i] = await this.planFile(files[i]!, root);
    };
    await Promise.all(Array.from({ length: Math.min(PLAN_CONCURRENCY, files.length) }, worker));
    return plan;
  }

  /** What will happen to one file; reads the destination only, writes nothing. */
  private async planFile(file: GridFile, root: SafeDir | undefined): Promise<PlannedFile> {
    const path = resolve(this.destDir, file.dest);
    const base = {
      name: file.name,
      path,
      size: file.size,
      replicas: file.replicas.map((r) => redactUrl(r.url)),
      checksums: file.checksums,
    };
    const dir = await root?.openDir(dirname(file.dest), false);
    if (!dir) return { ...base, action: (await this.cacheEntry(file)) ? 'cache' : 'download' };
    try {
      const name = basename(file.dest);
      const existing = await dir.entry(name);
      if (existing.kind === 'directory')
        throw new GridError(
          'GRID_DEST_INVALID',
          `${printable(path)} is a directory; it cannot be replaced by ${printable(file.name)}`,
        );
      if (existing.kind === 'file' && (await this.isPresent(path, existing.size, file)))
        return { ...base, size: existing.size, action: 'present' };
      if (await this.cacheEntry(file)) return { ...base, action: 'cache' };
      const part = new PartFile(dir, name);
      const state = await part.readState();
      const partSize = await part.size();
      if (state && partSize !== undefined && partSize > 0)
        return { ...base, action: 'resume', resumeFrom: resumableBytes(state, partSize) };
      return { ...base, action: 'download' };
    } finally {
      await dir.close();
    }
  }

  /** An existing destination counts as present when its checksums match (with none known, its size). */
  private async isPresent(path: string, size: number, file: GridFile): Promise<boolean> {
    if (this.o.skipExisting === false || (file.size !== undefined && size !== file.size)) return false;
    if (Object.keys(file.checksums).length === 0) return file.size !== undefined;
    const got = await hashFile(path, Object.keys(file.checksums) as ChecksumAlgorithm[], this.signal);
    return checksumMismatches(file.checksums, got).length === 0;
  }

  private cacheEntry(file: GridFile) {
    return this.cache?.lookup(ChecksumCache.keys(file.name, file.size, file.checksums), file.size);
  }

  /** One file: already present, from the cache, or from the network (`fetch`), in its checked directory. */
  private async obtain(
    file: GridFile,
    plan: PlannedFile,
    root: SafeDir,
    fetch: (part: PartFile) => Promise<FileResult>,
  ): Promise<FileResult> {
    const algorithms = this.algorithmsFor(file);
    const path = plan.path;
    if (plan.action === 'present') {
      const checksums = await hashFile(path, algorithms, this.signal);
      this.progress.doneBytes += plan.size ?? 0;
      return { name: file.name, path, size: plan.size ?? 0, checksums, source: 'present' };
    }
    const dir = (await root.openDir(dirname(file.dest), true))!;
    try {
      const name = basename(file.dest);
      const entry = plan.action === 'cache' ? await this.cacheEntry(file) : undefined;
      if (entry && this.cache) {
        const how = await this.cache.materialize(entry, dir, name);
        this.emit({ type: 'log', name: file.name, message: `${file.name}: taken from the cache (${how})` });
        const missing = [...algorithms].filter((a) => entry.checksums[a] === undefined);
        const checksums =
          missing.length > 0
            ? { ...entry.checksums, ...(await hashFile(path, missing, this.signal)) }
            : entry.checksums;
        this.progress.doneBytes += entry.size;
        return { name: file.name, path, size: entry.size, checksums, source: 'cache' };
      }
      return await fetch(new PartFile(dir, name));
    } finally {
      await dir.close();
    }
  }
}

/** The job's driver sessions, opened on first use of each driver. */
class DriverSessions {
  private readonly registry: TransferDriverRegistry;
  private readonly sessions = new Map<TransferDriver, TransferSession>();

  constructor(
    options: DownloadOptions,
    private readonly job: TransferJob,
  ) {
    this.registry = new TransferDriverRegistry([httpDriver, xrdcpDriver, ...(options.drivers ?? [])]);
  }

  forUrl(url: string): TransferSession {
    const driver = this.registry.forUrl(url);
    if (!driver) {
      throw new GridError(
        'GRID_UNSUPPORTED_SCHEME',
        `${redactUrl(url)}: no driver for this scheme (${this.registry.schemes().join(', ')})`,
        {
          retryable: false,
        },
      );
    }
    let session = this.sessions.get(driver);
    if (!session) {
      session = driver.open(this.job);
      this.sessions.set(driver, session);
    }
    return session;
  }

  async close(aborted: boolean): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.close(aborted).catch(() => undefined)));
  }
}
