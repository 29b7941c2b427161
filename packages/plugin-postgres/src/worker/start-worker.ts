import { createRuntime, MemoryStore, Tokens, type Plugin, type Runtime } from '@beamline/core';
import {
  ArtifactShare,
  artifactShareOptions,
  type ArtifactShareOptions,
} from '../artifacts/artifact-share.js';
import { PostgresError } from '../errors/postgres-error.js';
import {
  checkGatewayWorkerName,
  HttpWorkerQueue,
  type GatewayClientOptions,
} from '../gateway/http-worker-queue.js';
import { QueueConnection } from '../queue/queue-connection.js';
import { parseLabels } from '../queue/requirement.js';
import { PostgresWorkerQueue } from './postgres-worker-queue.js';
import { OrphanReaper } from './orphan-reaper.js';
import { QueueWorker } from './queue-worker.js';
import type { WorkerQueue } from './worker-queue.js';

/** Options of {@link startWorker}. */
export interface StartWorkerOptions {
  /** `postgres://…` of the shared queue (or {@link gateway}, not both). */
  url?: string;
  /**
   * A `beamline gateway` to go through instead of PostgreSQL: outbound HTTPS only, the worker never
   * connects to the database.
   */
  gateway?: GatewayClientOptions;
  /** Schema of the queue tables (default `beamline`). */
  schema?: string;
  /** Capability labels (`gpu=a100,docker`, or a list). */
  labels?: string | readonly string[];
  /** GPU ids this worker hands out (default: as a local run finds them, `CUDA_VISIBLE_DEVICES`). */
  gpus?: readonly string[];
  /** CPUs and memory (MiB) of this worker's pool (default: the host's). */
  cpus?: number;
  memoryMb?: number;
  /** Most jobs at once (default 1). */
  concurrency?: number;
  /** Plugins whose runners the worker offers besides `local` (the `beamline` program passes Docker's). */
  plugins?: readonly Plugin[];
  /** How often to look for work without a notification (ms, default 1,000). */
  pollMs?: number;
  /** A name for the worker (default `<host>:<pid>:<random>`). */
  name?: string;
  /** One line per thing the worker does. */
  onMessage?: (message: string) => void;
  /**
   * The artifact share (the coordinator's): a step whose run folder is not on this host runs in a private
   * scratch folder, its inputs fetched from the share and its outputs uploaded there. Default:
   * `BEAMLINE_ARTIFACT_SHARE` (and `BEAMLINE_ARTIFACT_TOKEN_FILE`) when set.
   */
  artifacts?: ArtifactShareOptions;
}

/** A started worker: {@link stop} hands running jobs back and closes everything. */
export interface StartedWorker {
  readonly worker: QueueWorker;
  stop(): Promise<void>;
}

/**
 * Starts a worker of the distributed mode on this host: a runtime of its own for the runners (local
 * processes, and those of `plugins`) and the resource pool, a connection to the queue (PostgreSQL, or a
 * gateway over HTTPS), and the {@link QueueWorker} loop. A wrong password, an unreachable database, an
 * unreachable gateway or a refused token fails here, clearly.
 */
export async function startWorker(options: StartWorkerOptions): Promise<StartedWorker> {
  const labels = parseLabels(options.labels ?? []);
  const shareOptions = artifactShareOptions(options.artifacts);
  const artifacts = shareOptions === undefined ? undefined : ArtifactShare.open(shareOptions);
  const resources = {
    ...(options.gpus === undefined ? {} : { gpus: options.gpus }),
    ...(options.cpus === undefined ? {} : { cpus: options.cpus }),
    ...(options.memoryMb === undefined ? {} : { memoryMb: options.memoryMb }),
  };
  if ((options.url === undefined) === (options.gateway === undefined)) {
    throw new PostgresError(
      'POSTGRES_CONFIG_INVALID',
      'a worker needs either the queue (url: postgres://…) or a gateway (https://…), not both',
    );
  }
  let queue: WorkerQueue;
  let close: () => Promise<void>;
  if (options.gateway !== undefined) {
    if (options.name !== undefined) checkGatewayWorkerName(options.name);
    const http = await HttpWorkerQueue.open(options.gateway);
    queue = http;
    close = () => Promise.resolve(http.close());
  } else {
    const connection = await QueueConnection.open({
      url: options.url!,
      ...(options.schema === undefined ? {} : { schema: options.schema }),
      ...(options.onMessage === undefined
        ? {}
        : { onWarning: (message: string) => options.onMessage?.(message) }),
    });
    queue = new PostgresWorkerQueue(connection);
    close = () => connection.close();
  }
  let runtime: Runtime;
  try {
    runtime = await createRuntime({ store: new MemoryStore(), plugins: options.plugins ?? [], resources });
  } catch (error) {
    await close();
    throw error;
  }
  const worker = new QueueWorker({
    queue,
    runners: runtime.resolve(Tokens.Runners),
    pool: runtime.resolve(Tokens.ResourcePool),
    labels,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.onMessage === undefined ? {} : { onMessage: options.onMessage }),
    ...(artifacts === undefined ? {} : { artifacts }),
  });
  worker.start();
  // A worker on the database also stops what dead workers on this host left running (kill -9).
  const reaper =
    queue instanceof PostgresWorkerQueue
      ? new OrphanReaper({
          connection: queue.connection,
          runners: runtime.resolve(Tokens.Runners),
          ...(options.onMessage === undefined ? {} : { onMessage: options.onMessage }),
        })
      : undefined;
  reaper?.start();
  let stopping: Promise<void> | undefined;
  return {
    worker,
    stop: () =>
      (stopping ??= (async () => {
        await worker.stop();
        await reaper?.stop();
        await close();
        await runtime.close();
      })()),
  };
}
