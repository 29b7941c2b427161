import cluster, { type Worker } from 'node:cluster';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { backoffDelay } from '@beamline/core';
import { EventEmitter } from 'eventemitter3';
import type { ShareConfig } from '../config/share-config.js';
import { WebdavError } from '../errors/webdav-error.js';
import { ShareServer, type ListenOptions } from '../server/share-server.js';
import type { FromWorker, ToWorker } from './messages.js';

/** Options of {@link ShareCluster.start}. */
export interface ClusterOptions extends Omit<ListenOptions, 'responseHeaders'> {
  /** Worker processes (at least 1). */
  readonly workers: number;
  /** Add `X-Beamline-Worker: <pid>` to every response (to see which worker answered; off by default). */
  readonly workerHeader?: boolean;
  /**
   * Always build access events, for a listener added to `server.events` right after `start` (without
   * it, workers build them only while there is an access log file or an `access` listener, checked
   * every half second: a listener added later sees the requests from then on). Default false.
   */
  readonly accessEvents?: boolean;
  /** How long a worker may take to start and listen before the cluster gives up (default 60 s). */
  readonly startTimeoutMs?: number;
}

/** One worker process of a {@link ShareCluster}, as `workers()` and health report it. */
export interface ClusterWorkerInfo {
  readonly pid: number;
  /** ISO time it started listening. */
  readonly since: string;
}

/** A worker that started listening or exited. */
export interface WorkerChange {
  readonly pid: number;
  readonly state: 'listening' | 'exited';
  /** For `exited`: the exit code or the signal. */
  readonly code?: number | null;
  readonly signal?: string | null;
}

/** Events of a {@link ShareCluster} (access events and warnings are on `server.events`). */
export interface ShareClusterEvents {
  worker: (change: WorkerChange) => void;
}

/** A worker's place in the cluster, kept when it is replaced. */
interface Slot {
  worker: Worker;
  since: string | undefined;
  started: number;
}

/** Respawn delays of a worker that keeps dying: 200 ms doubling to 10 s. */
const RESPAWN = { initialDelayMs: 200, coefficient: 2, maxDelayMs: 10_000, jitter: 0.2 };
/** How often the primary checks whether access events are wanted. */
const ACCESS_WATCH_MS = 500;
/** A worker that lived this long resets its slot's respawn delay. */
const STABLE_MS = 30_000;

/** The worker entry beside this module: `.ts` when running from source (tsx), `.js` when built. */
function workerEntry(): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith('.ts');
  const built = fileURLToPath(new URL('./worker-main.js', import.meta.url));
  const file = fromSource ? built.replace(/\.js$/, '.ts') : built;
  // The primary's Node flags, less an inline script (`node -e '…'`): a worker runs its own entry.
  const execArgv: string[] = [];
  for (let i = 0; i < process.execArgv.length; i += 1) {
    const arg = process.execArgv[i] ?? '';
    if (['-e', '--eval', '-p', '--print'].includes(arg)) i += 1;
    else if (!/^(--eval=|--print=|--input-type)/.test(arg)) execArgv.push(arg);
  }
  // From source, a worker needs the TypeScript loader even where the primary was not started with it.
  if (fromSource && !execArgv.some((arg) => arg.includes('tsx')))
    execArgv.push('--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href);
  if (fromSource && !execArgv.includes('--conditions=source')) execArgv.push('--conditions=source');
  return { file, execArgv };
}

/** A port free on a host now (the kernel's pick for port 0). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * The share server in several processes (Node `cluster`): the primary validates the configuration,
 * removes the leftovers of crashed uploads, then forks `workers` processes that each run a
 * {@link ShareServer} on the same listening socket. Everything two requests must agree on lives in the
 * share's SQLite state file (locks, Digest nonces and counts, failed logins, quota usage and
 * reservations), so a request is handled the same whichever worker gets it. Workers send their access
 * events to the primary, which writes the access log file alone and emits them on `server.events`. A
 * worker that dies is replaced (its upload leftovers removed); `close` stops them all; a worker whose
 * primary died (its IPC channel closed) stops by itself.
 */
export class ShareCluster {
  /** Workers starting to listen and exiting. */
  readonly events = new EventEmitter<ShareClusterEvents>();
  private readonly slots: Slot[] = [];
  private closing = false;
  private restartCount = 0;
  private started = false;
  private readonly exited = new Set<Promise<void>>();
  private readonly respawns = new Set<NodeJS.Timeout>();
  private accessWanted: boolean;
  private readonly accessWatch: NodeJS.Timeout;

  private constructor(
    /** The primary's server: never listens; its `events` carry every worker's access events and warnings. */
    readonly server: ShareServer,
    private readonly config: ShareConfig,
    private readonly options: ClusterOptions,
    /** Base URL all workers listen on. */
    public url: string,
  ) {
    // Workers build access events only while the primary has a log file or a listener for them
    // (they cost a few percent per request); a listener added later is seen within half a second.
    this.accessWanted = server.recordsAccess || options.accessEvents === true;
    this.accessWatch = setInterval(() => {
      const wanted = this.server.recordsAccess || this.options.accessEvents === true;
      if (wanted === this.accessWanted) return;
      this.accessWanted = wanted;
      const message: ToWorker = { type: 'access', on: wanted };
      for (const slot of this.slots) if (slot.worker.isConnected()) slot.worker.send(message);
    }, ACCESS_WATCH_MS);
    this.accessWatch.unref();
  }

  /**
   * Starts the primary and its workers and waits until every worker listens.
   *
   * @throws WebdavError `WEBDAV_START_FAILED` (bad folders, state, address in use, a worker that could
   *   not start), `WEBDAV_ENGINE_UNPATCHED`
   */
  static async start(config: ShareConfig, options: ClusterOptions): Promise<ShareCluster> {
    if (!cluster.isPrimary)
      throw new WebdavError(
        'WEBDAV_START_FAILED',
        'a share cluster cannot be started inside a cluster worker',
      );
    if (!Number.isInteger(options.workers) || options.workers < 1)
      throw new WebdavError(
        'WEBDAV_START_FAILED',
        `workers must be a whole number ≥ 1, got ${options.workers}`,
      );
    const server = await ShareServer.open(config);
    // Port 0 is resolved here, once: Node's cluster keys the shared socket by the port asked for, and
    // would bind a new random port for workers started after all the others died.
    let port = options.port ?? 0;
    try {
      if (port === 0) port = await freePort(options.host ?? '127.0.0.1');
    } catch (error) {
      await server.close(0);
      throw new WebdavError('WEBDAV_START_FAILED', `cannot find a free port: ${(error as Error).message}`, {
        cause: error,
      });
    }
    options = { ...options, port };
    const { file, execArgv } = workerEntry();
    // Workers accept their connections from the shared socket themselves (the kernel wakes one that
    // waits), instead of the primary accepting each one and passing it to a worker over IPC: a new
    // connection wakes one process instead of two, and a busy worker simply does not take it. Node's
    // own NODE_CLUSTER_SCHED_POLICY (`rr`) still decides where it is set; the policy is the process's,
    // fixed at its first fork.
    if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: file, execArgv, args: [], serialization: 'advanced' });
    const shares = new ShareCluster(server, config, options, '');
    try {
      const urls = await Promise.all(Array.from({ length: options.workers }, () => shares.spawn()));
      shares.url = urls[0] ?? '';
      shares.started = true;
    } catch (error) {
      await shares.close(0);
      throw error;
    }
    return shares;
  }

  /** Forks a worker into a new slot (or `slot`), resolves with its URL once it listens. */
  private spawn(slot?: Slot): Promise<string> {
    const worker = cluster.fork();
    // A message sent just as the channel closes fails with an 'error' event, which must not throw.
    worker.on('error', (error) => {
      if (!this.closing)
        this.server.events.emit('warning', { message: `worker ${worker.process.pid}: ${error.message}` });
    });
    const entry: Slot = slot ?? { worker, since: undefined, started: Date.now() };
    entry.worker = worker;
    entry.since = undefined;
    entry.started = Date.now();
    if (!slot) this.slots.push(entry);
    const { host, port, tls } = this.options;
    const start: ToWorker = {
      type: 'start',
      config: this.config,
      listen: { ...(host !== undefined && { host }), port: port ?? 0, ...(tls && { tls }) },
      workerHeader: this.options.workerHeader === true,
      access: this.accessWanted || this.server.recordsAccess,
    };
    const timeoutMs = this.options.startTimeoutMs ?? 60_000;
    const ready = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new WebdavError(
            'WEBDAV_START_FAILED',
            `worker ${worker.process.pid} did not listen within ${timeoutMs} ms`,
          ),
        );
        worker.process.kill('SIGKILL');
      }, timeoutMs);
      worker.on('message', (message: FromWorker) => {
        switch (message.type) {
          case 'hello':
            if (!this.closing && worker.isConnected()) worker.send(start);
            break;
          case 'ready':
            clearTimeout(timer);
            entry.since = new Date().toISOString();
            this.events.emit('worker', { pid: worker.process.pid ?? 0, state: 'listening' });
            resolve(message.url);
            break;
          case 'failed':
            clearTimeout(timer);
            reject(new WebdavError('WEBDAV_START_FAILED', message.message));
            break;
          case 'access':
            this.server.recordAccess(message.events);
            break;
          case 'warning':
            this.server.events.emit('warning', message.warning);
            break;
        }
      });
      worker.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new WebdavError(
            'WEBDAV_START_FAILED',
            `worker ${worker.process.pid} exited before listening (${signal ?? `code ${code}`})`,
          ),
        );
      });
    });
    const pid = worker.process.pid ?? 0;
    let done!: () => void;
    const exited = new Promise<void>((resolve) => (done = resolve));
    this.exited.add(exited);
    worker.once('exit', (code, signal) => {
      this.events.emit('worker', { pid, state: 'exited', code, signal });
      void this.server.cleanUpAfter(pid).finally(() => {
        this.exited.delete(exited);
        done();
      });
      // During `start`, a worker that fails fails the start; afterwards every dead worker is replaced
      // (one that fails to start too, after a longer wait each time).
      if (this.closing || entry.worker !== worker || !this.started) return;
      this.restartCount += 1;
      const lived = Date.now() - entry.started;
      const attempt = lived >= STABLE_MS ? 1 : Math.min(this.restartCount, 10);
      this.server.events.emit('warning', {
        message: `worker ${pid} died (${signal ?? `code ${code}`}); starting another`,
      });
      // A pending replacement keeps the primary alive (even with no worker left), until `close`.
      const timer = setTimeout(
        () => {
          this.respawns.delete(timer);
          if (this.closing) return;
          this.spawn(entry).catch((error: Error) => {
            this.server.events.emit('warning', { message: `a replacement worker failed: ${error.message}` });
          });
        },
        backoffDelay(RESPAWN, attempt),
      );
      this.respawns.add(timer);
    });
    return ready;
  }

  /** The live workers (those listening). */
  workers(): ClusterWorkerInfo[] {
    return this.slots
      .filter((slot) => slot.since !== undefined && !slot.worker.isDead())
      .map((slot) => ({ pid: slot.worker.process.pid ?? 0, since: slot.since ?? '' }));
  }

  /** How many workers died and were replaced since the start. */
  get restarts(): number {
    return this.restartCount;
  }

  /** Whether every worker listens. */
  healthy(): boolean {
    return !this.closing && this.workers().length === this.options.workers;
  }

  /**
   * Stops every worker (each lets its requests in flight finish, up to `graceMs`; a worker still
   * alive 5 s after that is killed), then the primary's server.
   */
  async close(graceMs = 10_000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.accessWatch);
    for (const timer of this.respawns) clearTimeout(timer);
    this.respawns.clear();
    const stop: ToWorker = { type: 'stop', graceMs };
    for (const slot of this.slots) {
      const { worker } = slot;
      if (worker.isDead()) continue;
      if (worker.isConnected()) worker.send(stop);
      else worker.process.kill('SIGTERM');
      const killer = setTimeout(() => worker.process.kill('SIGKILL'), graceMs + 5_000);
      worker.once('exit', () => clearTimeout(killer));
    }
    await Promise.all([...this.exited]);
    await this.server.close(0);
  }
}
