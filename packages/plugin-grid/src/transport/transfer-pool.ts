import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { GridError } from '../errors/grid-error.js';
import type { RateLimiter } from '../schedule/rate-limiter.js';
import type { HttpAttemptOptions, HttpAttemptResult } from './http-download.js';
import type { HttpTransportOptions } from './http-transport.js';
import { deserializeError, serializeError, type AttemptRequest, type FromWorker, type ToWorker, type TransferWorkerData } from './transfer-protocol.js';

/** The callbacks of one attempt, run on the main thread. */
export interface AttemptCallbacks {
  readonly signal: AbortSignal;
  readonly authHeaders: () => Promise<Record<string, string>>;
  readonly onData: HttpAttemptOptions['onData'];
  readonly onResume: HttpAttemptOptions['onResume'];
  readonly onLog: HttpAttemptOptions['onLog'];
  readonly rate: RateLimiter | undefined;
}

interface Running {
  readonly cb: AttemptCallbacks;
  readonly worker: TransferThread;
  readonly resolve: (r: HttpAttemptResult) => void;
  readonly reject: (e: Error) => void;
}

/** How many transfer threads a job uses by default: one per core, at most one per parallel transfer. */
export function defaultTransferThreads(parallel: number): number {
  return Math.max(1, Math.min(availableParallelism(), parallel, 4));
}

/**
 * Worker threads that run HTTP attempts (see `transfer-worker.ts`), so that socket reads, HTTP parsing
 * and file writes of a job use every core instead of one event loop. Each file is pinned to one thread
 * (the least busy when it first starts), so the hasher carried between its attempts stays valid.
 * Scheduling, retries, credentials, the bandwidth limit and progress stay on the calling thread.
 */
export class TransferPool {
  private readonly threads: TransferThread[];
  private readonly pinned = new Map<string, TransferThread>();
  private readonly running = new Map<number, Running>();
  private nextId = 0;

  constructor(count: number, transport: HttpTransportOptions) {
    this.threads = Array.from({ length: count }, () => new TransferThread(this, { transport }));
  }

  /** Runs one attempt on the file's thread; rejects with the attempt's GridError. */
  run(request: AttemptRequest, cb: AttemptCallbacks): Promise<HttpAttemptResult> {
    let worker = this.pinned.get(request.dest);
    if (!worker) {
      worker = this.threads.reduce((a, b) => (b.files < a.files ? b : a));
      worker.files++;
      this.pinned.set(request.dest, worker);
    }
    const w = worker;
    const id = this.nextId++;
    return new Promise<HttpAttemptResult>((resolve, reject) => {
      if (w.failure) return reject(w.failure);
      const onAbort = () => w.post({ op: 'abort', id });
      cb.signal.addEventListener('abort', onAbort, { once: true });
      const done = () => cb.signal.removeEventListener('abort', onAbort);
      this.running.set(id, {
        cb,
        worker: w,
        resolve: (r) => {
          done();
          resolve(r);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      w.post({ op: 'start', id, request });
      if (cb.signal.aborted) onAbort();
    });
  }

  /** The file is finished (or its `.part` discarded): its carried hasher goes, and its thread is free for others. */
  forget(dest: string, done: boolean): void {
    const w = this.pinned.get(dest);
    if (!w) return;
    w.post({ op: 'forget', dest });
    if (done) {
      this.pinned.delete(dest);
      w.files--;
    }
  }

  async close(destroy: boolean): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close(destroy)));
  }

  /** @internal */
  handle(thread: TransferThread, m: FromWorker): void {
    if (m.op === 'closed') return;
    const r = this.running.get(m.id);
    if (!r) return;
    switch (m.op) {
      case 'data':
        r.cb.onData(m.bytes);
        break;
      case 'resume':
        r.cb.onResume(m.offset, m.note);
        break;
      case 'log':
        r.cb.onLog(m.text);
        break;
      case 'auth':
        r.cb.authHeaders().then(
          (headers) => thread.post({ op: 'reply', seq: m.seq, headers }),
          (e: unknown) => thread.post({ op: 'reply', seq: m.seq, error: serializeError(e) }),
        );
        break;
      case 'rate':
        (r.cb.rate ? r.cb.rate.take(m.bytes, r.cb.signal) : Promise.resolve()).then(
          () => thread.post({ op: 'reply', seq: m.seq }),
          (e: unknown) => thread.post({ op: 'reply', seq: m.seq, error: serializeError(e) }),
        );
        break;
      case 'done':
        this.running.delete(m.id);
        r.resolve(m.result);
        break;
      case 'failed':
        this.running.delete(m.id);
        r.reject(deserializeError(m.error));
        break;
    }
  }

  /** @internal A thread died: its attempts fail (retryable: the next attempt gets a `.part` to resume). */
  fail(thread: TransferThread, e: GridError): void {
    for (const [id, r] of this.running) {
      if (r.worker !== thread) continue;
      this.running.delete(id);
      r.reject(e);
    }
  }
}

class TransferThread {
  private readonly worker: Worker;
  files = 0;
  failure: GridError | undefined;
  private readonly exited: Promise<void>;

  constructor(pool: TransferPool, data: TransferWorkerData) {
    const { source, options } = workerEntry();
    this.worker = new Worker(source, { ...options, workerData: data, name: 'grid-transfer' });
    this.worker.on('message', (m: FromWorker) => pool.handle(this, m));
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    const fail = (e: Error) => {
      this.failure ??= new GridError('GRID_IO_FAILED', `transfer worker stopped: ${e.message}`, { retryable: false, cause: e });
      pool.fail(this, this.failure);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
  }

  post(m: ToWorker): void {
    if (!this.failure) this.worker.postMessage(m);
  }

  async close(destroy: boolean): Promise<void> {
    if (this.failure) return;
    this.post({ op: 'close', destroy });
    // A worker that does not wind down (a stuck close) must not hold the job open.
    const timer = setTimeout(() => void this.worker.terminate(), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * The worker's entry: the compiled `transfer-worker.js` next to this file, or, when running from the
 * TypeScript sources (tsx, vitest), `transfer-worker.ts` loaded through tsx's loader, registered in the
 * worker itself (Node 20 workers do not apply `--import` from `execArgv` to their entry module).
 */
function workerEntry(): { source: string | URL; options: { eval?: boolean; execArgv?: string[] } } {
  const self = fileURLToPath(import.meta.url);
  if (self.endsWith('.js')) return { source: new URL('./transfer-worker.js', import.meta.url), options: {} };
  const tsxCjs = createRequire(import.meta.url).resolve('tsx/esm/api');
  const tsxApi = pathToFileURL(join(dirname(tsxCjs), 'index.mjs')).href;
  const entry = pathToFileURL(join(dirname(self), 'transfer-worker.ts')).href;
  return {
    source: `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`,
    options: { eval: true, execArgv: ['--conditions=source'] },
  };
}
