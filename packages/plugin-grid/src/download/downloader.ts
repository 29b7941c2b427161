import type { ErrorInfo } from '@beamline/core';
import { setMaxListeners } from 'node:events';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Observable } from 'rxjs';
import { ChecksumCache } from '../cache/checksum-cache.js';
import { checksumMismatches, type ChecksumAlgorithm, type Checksums } from '../checksums/checksum-format.js';
import { hashFile } from '../checksums/multi-hasher.js';
import { HashWorkerPool, type FileHasher } from '../checksums/hash-worker.js';
import { checkTokenExpiry, discoverBearerToken, type DiscoveredToken } from '../credentials/bearer-token.js';
import { loadTlsCredentials, type TlsCredentials } from '../credentials/client-cert.js';
import { GridError, isGridError } from '../errors/grid-error.js';
import { partPaths, readPartState, finalizePart, removePart } from '../files/part-file.js';
import { resolveFiles } from '../inputs/alice-traint.js';
import type { GridFile, GridReplica } from '../model/grid-file.js';
import { backoffDelay } from '../schedule/backoff.js';
import { RateLimiter } from '../schedule/rate-limiter.js';
import { TransferLimiter } from '../schedule/semaphore.js';
import { classifyFailure, toGridError } from '../transport/failure.js';
import { redactUrl } from '../transport/http-headers.js';
import { downloadHttp } from '../transport/http-download.js';
import { HttpTransport, toHttpUrl } from '../transport/http-transport.js';
import { downloadXrdcp, isXrootdUrl } from '../transport/xrdcp-driver.js';
import type { DownloadOptions } from './download-options.js';
import type { FileResult, GridEvent, PlannedFile } from './grid-event.js';

/**
 * Downloads files (verified, resumable, never visible unverified under the final name) and reports
 * progress. The Observable is cold: the job starts on subscription, and unsubscribing aborts it,
 * keeping `.part` files for a later resume. It completes after `done`, or errors with a GridError
 * (`GRID_FILES_FAILED` lists the files that failed; the others are in place).
 */
export function download(files: readonly GridFile[], options: DownloadOptions): Observable<GridEvent> {
  return new Observable<GridEvent>((subscriber) => {
    const ctl = new AbortController();
    // Every file waiting for a slot listens on this signal; thousands of files are normal.
    setMaxListeners(0, ctl.signal);
    const outer = options.signal;
    const onOuterAbort = () => ctl.abort(outer?.reason);
    if (outer?.aborted) ctl.abort(outer.reason);
    else outer?.addEventListener('abort', onOuterAbort, { once: true });
    const job = new DownloadJob(files, options, ctl.signal, (e) => {
      if (!subscriber.closed) subscriber.next(e);
    });
    job.run().then(
      () => subscriber.complete(),
      (e: unknown) => subscriber.error(e),
    );
    return () => {
      outer?.removeEventListener('abort', onOuterAbort);
      if (!ctl.signal.aborted) ctl.abort(new GridError('GRID_ABORTED', 'unsubscribed'));
    };
  });
}

/** `download` with `dryRun`: resolves to the plan without transferring or writing anything. */
export async function planDownload(files: readonly GridFile[], options: DownloadOptions): Promise<PlannedFile[]> {
  let planned: PlannedFile[] = [];
  await new Promise<void>((res, rej) => {
    download(files, { ...options, dryRun: true }).subscribe({
      next: (e) => {
        if (e.type === 'plan') planned = [...e.files];
      },
      error: rej,
      complete: res,
    });
  });
  return planned;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

interface ActiveFile {
  name: string;
  size: number | undefined;
  bytes: number;
  lastBytes: number;
  lastTime: number;
  rate: number;
}

class DownloadJob {
  private readonly destDir: string;
  private readonly limiter: TransferLimiter;
  private readonly rate: RateLimiter | undefined;
  private readonly cache: ChecksumCache | undefined;
  private transport: HttpTransport | undefined;
  private hashPool: HashWorkerPool | undefined;
  private tls: TlsCredentials = {};
  private readonly badHosts = new Set<string>();
  private readonly active = new Map<string, ActiveFile>();
  private doneBytes = 0;
  private transferred = 0;
  private totalSize = 0;
  private totalRate = 0;
  private lastTotal = { bytes: 0, time: performance.now() };

  constructor(
    private readonly files: readonly GridFile[],
    private readonly o: DownloadOptions,
    private readonly signal: AbortSignal,
    private readonly emit: (e: GridEvent) => void,
  ) {
    this.destDir = resolve(o.dest);
    this.limiter = new TransferLimiter(o.parallel ?? 4, o.perHost ?? 2);
    this.rate = o.bandwidthLimit ? new RateLimiter(o.bandwidthLimit) : undefined;
    this.cache = o.cacheDir ? new ChecksumCache(resolve(o.cacheDir)) : undefined;
  }

  async run(): Promise<void> {
    const started = performance.now();
    const files = await resolveFiles(this.files, this.o.resolveReplicas, this.signal);
    this.checkDestinations(files);
    const plan = await Promise.all(files.map((f) => this.planFile(f)));
    this.totalSize = plan.reduce((n, p) => n + (p.size ?? 0), 0);
    const fetchBytes = plan.reduce((n, p) => n + (p.action === 'download' || p.action === 'resume' ? (p.size ?? 0) - (p.resumeFrom ?? 0) : 0), 0);
    this.emit({ type: 'plan', files: plan, totalBytes: this.totalSize, fetchBytes, dryRun: this.o.dryRun === true });
    if (this.o.dryRun) return;

    await this.prepareCredentials(files);
    this.transport = new HttpTransport({
      connectionsPerHost: this.o.perHost ?? 2,
      tls: this.tls,
      ...(this.o.timeouts?.connectMs !== undefined && { connectTimeoutMs: this.o.timeouts.connectMs }),
      ...(this.o.timeouts?.headersMs !== undefined && { headersTimeoutMs: this.o.timeouts.headersMs }),
      ...(this.o.timeouts?.bodyMs !== undefined && { bodyTimeoutMs: this.o.timeouts.bodyMs }),
    });
    const ticker = setInterval(() => this.tick(), this.o.progressIntervalMs ?? 500);
    ticker.unref();
    const results: FileResult[] = [];
    const failures: Array<{ name: string; error: GridError }> = [];
    try {
      // Largest first: the long transfers start early and the small ones fill the gaps at the end.
      const order = files.map((f, i) => ({ f, p: plan[i]! })).sort((a, b) => (b.f.size ?? 0) - (a.f.size ?? 0));
      await Promise.all(
        order.map(async ({ f, p }) => {
          try {
            const r = await this.obtain(f, p);
            results.push(r);
            this.emit({ type: 'file-done', file: r });
          } catch (e) {
            const err = toGridError(e, f.name);
            failures.push({ name: f.name, error: err });
            this.emit({ type: 'file-failed', name: f.name, path: p.path, error: errorInfo(err) });
          }
        }),
      );
    } finally {
      clearInterval(ticker);
      if (this.signal.aborted) await this.transport.destroy().catch(() => undefined);
      else await this.transport.close().catch(() => undefined);
      await this.hashPool?.close();
    }
    if (this.signal.aborted) {
      throw new GridError('GRID_ABORTED', 'download aborted; .part files are kept for resume', { retryable: false, cause: this.signal.reason });
    }
    this.emit({ type: 'done', files: results, transferred: this.transferred, totalSize: this.totalSize, durationMs: performance.now() - started });
    if (failures.length > 0) {
      const first = failures[0]!;
      throw new GridError('GRID_FILES_FAILED', `${failures.length} of ${files.length} files failed; first: ${first.error.message}`, {
        cause: first.error,
        retryable: failures.some((f) => f.error.retryable),
        details: { failed: failures.map((f) => ({ name: f.name, code: f.error.code, message: f.error.message })) },
      });
    }
  }

  private checkDestinations(files: readonly GridFile[]): void {
    const seen = new Map<string, string>();
    for (const f of files) {
      const p = resolve(this.destDir, f.dest);
      const other = seen.get(p);
      if (other !== undefined) throw new GridError('GRID_DEST_INVALID', `${f.name} and ${other} would both be written to ${p}`);
      seen.set(p, f.name);
    }
  }

  private algorithmsFor(file: GridFile): Set<ChecksumAlgorithm> {
    const algs = new Set<ChecksumAlgorithm>([...(this.o.checksums ?? []), ...(Object.keys(file.checksums) as ChecksumAlgorithm[])]);
    // With nothing to compare against, adler32 is cheap and lets a server's Digest be checked.
    if (Object.keys(file.checksums).length === 0) algs.add('adler32');
    return algs;
  }

  private async planFile(file: GridFile): Promise<PlannedFile> {
    const path = resolve(this.destDir, file.dest);
    const base = { name: file.name, path, size: file.size, replicas: file.replicas.map((r) => redactUrl(r.url)), checksums: file.checksums };
    const existing = await stat(path).catch(() => undefined);
    if (this.o.skipExisting !== false && existing?.isFile() && (file.size === undefined || existing.size === file.size)) {
      // Present if its checksums match (or, with no checksum known, its size: like alien_cp's check).
      if (Object.keys(file.checksums).length === 0 ? file.size !== undefined : await this.matches(path, file)) {
        return { ...base, size: existing.size, action: 'present' };
      }
    }
    if (this.cache && (await this.cache.lookup(ChecksumCache.keys(file.name, file.size, file.checksums), file.size))) {
      return { ...base, action: 'cache' };
    }
    const part = partPaths(path);
    const st = await readPartState(part.state);
    const partSize = await stat(part.part).then((s) => s.size, () => 0);
    if (st && partSize > 0) {
      const done = st.segments.length > 1 ? st.segments.reduce((n, s) => n + s.done, 0) : partSize;
      return { ...base, action: 'resume', resumeFrom: done };
    }
    return { ...base, action: 'download' };
  }

  private async matches(path: string, file: GridFile): Promise<boolean> {
    const got = await hashFile(path, Object.keys(file.checksums) as ChecksumAlgorithm[], this.signal);
    return checksumMismatches(file.checksums, got).length === 0;
  }

  private async prepareCredentials(files: readonly GridFile[]): Promise<void> {
    const cred = this.o.credentials;
    const needsTls = files.some((f) => f.replicas.some((r) => /^(https|davs):/i.test(r.url)));
    if (needsTls || cred?.clientCert || cred?.caDir) {
      this.tls = await loadTlsCredentials(cred?.clientCert, cred?.caDir, cred?.env ?? process.env);
      if (this.tls.notAfterMs !== undefined && this.tls.notAfterMs < Date.now()) {
        throw new GridError('GRID_CREDENTIALS_EXPIRED', `the client certificate expired on ${new Date(this.tls.notAfterMs).toISOString()}`);
      }
    }
    const token = await this.token();
    if (token) checkTokenExpiry(token);
  }

  private async token(): Promise<DiscoveredToken | undefined> {
    const setting = this.o.credentials?.bearerToken ?? 'discover';
    if (setting === false) return undefined;
    if (setting !== 'discover') return { token: setting, source: 'option' };
    return discoverBearerToken(this.o.credentials?.env ?? process.env);
  }

  private async authHeaders(url: string): Promise<Record<string, string>> {
    const u = new URL(url);
    if (u.protocol !== 'https:' && !LOOPBACK.test(u.hostname)) return {};
    const t = await this.token();
    return t ? { Authorization: `Bearer ${t.token}` } : {};
  }

  private orderReplicas(replicas: readonly GridReplica[]): GridReplica[] {
    // Hosts that refused connections earlier in this job go last, so other files do not wait on them.
    return [...replicas].sort((a, b) => Number(this.badHosts.has(hostKey(a))) - Number(this.badHosts.has(hostKey(b))));
  }

  private async obtain(file: GridFile, plan: PlannedFile): Promise<FileResult> {
    const path = plan.path;
    const algorithms = this.algorithmsFor(file);
    if (plan.action === 'present') {
      const checksums = await hashFile(path, algorithms, this.signal);
      this.doneBytes += plan.size ?? 0;
      return { name: file.name, path, size: plan.size ?? 0, checksums, source: 'present' };
    }
    await mkdir(dirname(path), { recursive: true });
    if (plan.action === 'cache' && this.cache) {
      const entry = await this.cache.lookup(ChecksumCache.keys(file.name, file.size, file.checksums), file.size);
      if (entry) {
        const how = await this.cache.materialize(entry, path);
        this.emit({ type: 'log', name: file.name, message: `${file.name}: taken from the cache (${how})` });
        const missing = [...algorithms].filter((a) => entry.checksums[a] === undefined);
        const checksums = missing.length > 0 ? { ...entry.checksums, ...(await hashFile(path, missing, this.signal)) } : entry.checksums;
        this.doneBytes += entry.size;
        return { name: file.name, path, size: entry.size, checksums, source: 'cache' };
      }
    }
    return this.fetch(file, path, algorithms);
  }

  private async fetch(file: GridFile, path: string, algorithms: Set<ChecksumAlgorithm>): Promise<FileResult> {
    const perReplica = this.o.retry?.perReplica ?? 4;
    const rounds = this.o.retry?.rounds ?? 2;
    const maxTime = this.o.retry?.maxTimeMs ?? ((file.size ?? 0) / 500_000) * 1000 + 600_000;
    const deadline = performance.now() + maxTime;
    const failures: GridError[] = [];
    const carry: { hasher?: FileHasher | undefined } = {};
    const progress: ActiveFile = { name: file.name, size: file.size, bytes: 0, lastBytes: 0, lastTime: performance.now(), rate: 0 };
    const replicas = this.orderReplicas(file.replicas);

    for (let round = 0; round < rounds; round++) {
      for (let ri = 0; ri < replicas.length; ri++) {
        const replica = replicas[ri]!;
        const where = redactUrl(replica.url);
        for (let attempt = 1; ; attempt++) {
          this.signal.throwIfAborted();
          let err: GridError;
          const release = await this.limiter.acquire(hostKey(replica), this.signal);
          this.active.set(path, progress);
          this.emit({ type: 'file-start', name: file.name, url: where, path });
          try {
            const result = await this.attempt(replica, file, path, algorithms, progress, carry);
            release();
            this.active.delete(path);
            this.verify(file, where, result);
            await finalizePart(path);
            this.doneBytes += result.size;
            const out: FileResult = { name: file.name, path, size: result.size, checksums: result.checksums, source: 'network', url: where };
            if (this.cache) await this.cache.insert(path, ChecksumCache.keys(file.name, result.size, { ...result.checksums }), result.checksums);
            return out;
          } catch (e) {
            release();
            this.active.delete(path);
            err = toGridError(e, where);
          }
          if (this.signal.aborted) throw new GridError('GRID_ABORTED', 'download aborted; the .part file is kept for resume', { cause: this.signal.reason });
          if (err.code === 'GRID_CHECKSUM_MISMATCH' || err.code === 'GRID_SIZE_MISMATCH') {
            // Wrong content must not seed a resume from the next replica.
            await removePart(path);
            carry.hasher = undefined;
          }
          const action = classifyFailure(err);
          if (action === 'fatal') throw err;
          const left = deadline - performance.now();
          if (action === 'retry' && attempt < perReplica) {
            const delay = backoffDelay(attempt, err.details.retryAfterMs as number | undefined, this.o.retry?.backoff ?? {});
            if (delay > left) throw new GridError('GRID_RETRY_TIMEOUT', `${file.name}: retry time used up (last: ${err.message})`, { cause: err, retryable: true });
            this.emit({ type: 'retry', name: file.name, url: where, attempt, delayMs: delay, error: errorInfo(err) });
            await sleep(delay, undefined, { signal: this.signal }).catch(() => undefined);
            continue;
          }
          failures.push(err);
          if (err.code === 'GRID_CONNECT_FAILED') this.badHosts.add(hostKey(replica));
          const next = replicas[ri + 1] ?? (round + 1 < rounds ? replicas[0] : undefined);
          this.emit({ type: 'replica-switch', name: file.name, from: where, to: next && redactUrl(next.url), error: errorInfo(err) });
          if (left <= 0) throw new GridError('GRID_RETRY_TIMEOUT', `${file.name}: retry time used up (last: ${err.message})`, { cause: err, retryable: true });
          break;
        }
      }
      // Refusals do not change on a second pass: stop when every replica said 401/403/404.
      if (failures.every((f) => f.code === 'GRID_UNAUTHORIZED' || f.code === 'GRID_NOT_FOUND' || f.code === 'GRID_XRDCP_MISSING' || f.code === 'GRID_UNSUPPORTED_SCHEME')) break;
    }
    const refusal = failures.find((f) => f.code === 'GRID_UNAUTHORIZED') ?? failures.find((f) => f.code === 'GRID_NOT_FOUND');
    if (refusal && failures.every((f) => !f.retryable)) {
      throw new GridError(refusal.code, `${file.name}: every replica refused it (${failures.map((f) => f.message).join('; ')})`, {
        cause: refusal,
        retryable: false,
        details: refusal.details,
      });
    }
    if (failures.length === 1 && !failures[0]!.retryable) throw failures[0]!;
    throw new GridError('GRID_REPLICAS_EXHAUSTED', `${file.name}: all ${replicas.length} replicas failed (${failures.map((f) => f.message).join('; ')})`, {
      cause: failures[failures.length - 1],
      retryable: true,
      details: { attempts: failures.map((f) => ({ code: f.code, message: f.message })) },
    });
  }

  private async attempt(
    replica: GridReplica,
    file: GridFile,
    path: string,
    algorithms: Set<ChecksumAlgorithm>,
    progress: ActiveFile,
    carry: { hasher?: FileHasher | undefined },
  ): Promise<{ size: number; checksums: Checksums; serverDigests: Checksums }> {
    const where = redactUrl(replica.url);
    const common = {
      dest: path,
      size: file.size,
      expected: file.checksums,
      algorithms,
      signal: this.signal,
      onData: (n: number) => {
        progress.bytes += n;
        this.transferred += n;
      },
      onResume: (offset: number, message: string) => {
        progress.bytes = offset;
        if (message !== 'restart') this.emit({ type: 'resume', name: file.name, url: where, offset, message });
      },
      onLog: (message: string) => this.emit({ type: 'log', name: file.name, message }),
    };
    progress.bytes = 0;
    if (isXrootdUrl(replica.url)) return downloadXrdcp({ ...common, url: replica.url, xrdcp: this.o.xrdcp ?? {} });
    const url = toHttpUrl(replica.url);
    if (!/^https?:\/\//i.test(url)) {
      throw new GridError('GRID_UNSUPPORTED_SCHEME', `${where}: no driver for this scheme (http, https, dav, davs, root, xroot)`, { retryable: false });
    }
    return downloadHttp({
      ...common,
      transport: this.transport!,
      url,
      segments: this.o.segments ?? 1,
      segmentMinSize: this.o.segmentMinSize ?? 256 * 1024 * 1024,
      authHeaders: () => this.authHeaders(url),
      rate: this.rate,
      stall: { minBytesPerSec: this.o.stall?.minBytesPerSec ?? 100 * 1024, windowMs: this.o.stall?.windowMs ?? 30_000 },
      checkpointBytes: this.o.checkpointBytes ?? 64 * 1024 * 1024,
      newHasher: (this.hashPool ??= new HashWorkerPool()).create,
      carry,
    });
  }

  /** Size and checksums against the catalogue (or, lacking those, the server's validated Digest). */
  private verify(file: GridFile, where: string, r: { size: number; checksums: Checksums; serverDigests: Checksums }): void {
    if (file.size !== undefined && r.size !== file.size) {
      throw new GridError('GRID_SIZE_MISMATCH', `${where}: got ${r.size} bytes, expected ${file.size}`, { retryable: true });
    }
    const expected = Object.keys(file.checksums).length > 0 ? file.checksums : r.serverDigests;
    const bad = checksumMismatches(expected, r.checksums);
    if (bad.length > 0) {
      throw new GridError(
        'GRID_CHECKSUM_MISMATCH',
        `${where}: ${bad.map((a) => `${a} ${r.checksums[a]} != expected ${expected[a]}`).join(', ')}`,
        { retryable: true, details: { algorithms: bad } },
      );
    }
  }

  private tick(): void {
    const now = performance.now();
    let activeBytes = 0;
    for (const a of this.active.values()) {
      const dt = (now - a.lastTime) / 1000;
      if (dt > 0) a.rate = a.rate === 0 ? (a.bytes - a.lastBytes) / dt : 0.5 * a.rate + (0.5 * (a.bytes - a.lastBytes)) / dt;
      a.lastBytes = a.bytes;
      a.lastTime = now;
      activeBytes += a.bytes;
    }
    const total = this.doneBytes + activeBytes;
    const dt = (now - this.lastTotal.time) / 1000;
    if (dt > 0) {
      const inst = Math.max(0, (this.transferred - this.lastTotal.bytes) / dt);
      this.totalRate = this.totalRate === 0 ? inst : 0.7 * this.totalRate + 0.3 * inst;
    }
    this.lastTotal = { bytes: this.transferred, time: now };
    const eta = this.totalRate > 0 && this.totalSize > 0 ? Math.max(0, (this.totalSize - total) / this.totalRate) : undefined;
    for (const a of this.active.values()) {
      this.emit({
        type: 'progress',
        name: a.name,
        bytes: a.bytes,
        size: a.size,
        rate: a.rate,
        totalBytes: total,
        totalSize: this.totalSize,
        totalRate: this.totalRate,
        eta,
      });
    }
  }
}

/** The limiter key of a replica: its storage element when known, else host:port. */
export function hostKey(r: GridReplica): string {
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
  if (isGridError(e)) return { code: e.code, message: e.message, retryable: e.retryable };
  const err = e as Error | undefined;
  return { code: 'GRID_IO_FAILED', message: err?.message ?? String(e), retryable: false };
}
