import {
  backoffDelay,
  createRuntime,
  isCoreError,
  SqliteStore,
  Tokens,
  type BackoffPolicy,
  type RunEvent,
  type RunHandle,
  type RunResult,
  type Runtime,
} from '@beamline/core';
import { createDockerClient, createDockerPlugin } from '@beamline/plugin-docker';
import type { GridPluginOptions } from '@beamline/plugin-grid';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AliceClient } from '../client/alice-client.js';
import { TaskStatus, type QueuedTask } from '../client/wire.js';
import type { AgentConfig } from '../config/agent-config.js';
import { AliceError, isAliceError } from '../errors/alice-error.js';
import { AgentLock } from './agent-lock.js';
import { createAliceTraintPlugin } from './commands.js';
import { buildTaskPipeline, taskFolders } from './task-pipeline.js';
import { TaskStateFile, type TaskState } from './task-state.js';
import { withRetries } from './with-retries.js';

/** How a task ended, as the agent tells it. */
export type TaskOutcome = 'completed' | 'failed' | 'cancelled' | 'stopped' | 'abandoned';

/** Options of {@link AliceAgent}. */
export interface AgentOptions {
  readonly config: AgentConfig;
  /** Default: a client for the configuration's server and machine. */
  readonly client?: AliceClient;
  /** Mock mode: no grid, no scripts; the canned models and plots in `uploadsDir` are uploaded. */
  readonly mock?: { readonly uploadsDir: string; readonly sleepMs: number };
  /** Heartbeats to a coordinator that supports them (default every 30 s; the Go server has none). */
  readonly heartbeatMs?: number;
  /** Backoff after failed polls (default 1 s doubling to 5 min, ±20 %). */
  readonly pollBackoff?: Partial<BackoffPolicy>;
  /** Backoff of uploads and status posts is the commands' own; this is the grid download's options. */
  readonly grid?: Omit<GridPluginOptions['defaults'] & object, 'cacheDir' | 'resolveReplicas'>;
  /** What the agent says: one line each (polls, tasks, stage output). */
  readonly log?: (line: string) => void;
  /** Told when a task ends. */
  readonly onTaskEnd?: (taskId: number, outcome: TaskOutcome) => void;
}

const DEFAULT_POLL_BACKOFF: Partial<BackoffPolicy> = { initialDelayMs: 1000, maxDelayMs: 5 * 60_000 };

/**
 * The training-machine agent: polls the web interface for a task, runs it as a Beamline pipeline of
 * the original stages, posts `Benchmarking`, `Completed` or `Failed`, and polls again.
 *
 * - A failed poll never ends the agent: it backs off (with jitter) and polls again; only a 401 (the
 *   machine's id or secret refused) stops it, with {@link AliceError} `ALICE_UNAUTHORIZED`.
 * - The task it holds is recorded in `<data>/agent-task.json` with its run id; after a crash
 *   (`kill -9`) the next start resumes that run from the store: completed stages (and their uploads)
 *   are not repeated, the AODs are not fetched again, the interrupted stage runs again (what its
 *   processes left running is stopped first by the runtime).
 * - {@link stop} (SIGTERM) cancels the running stage (SIGTERM, grace, SIGKILL) and keeps the task
 *   recorded: the next start resumes it. Nothing is posted, so the server still shows it `Training`.
 */
export class AliceAgent {
  private readonly config: AgentConfig;
  private readonly client: AliceClient;
  private readonly state: TaskStateFile;
  private readonly stopping = new AbortController();
  private current: RunHandle | undefined;

  constructor(private readonly options: AgentOptions) {
    this.config = options.config;
    this.client =
      options.client ??
      new AliceClient({
        baseUrl: options.config.baseUrl,
        machineId: options.config.machineId,
        secretKey: options.config.secretKey,
      });
    this.state = new TaskStateFile(options.config.dataDir);
  }

  /**
   * Runs until {@link stop}: resolves then; rejects when the server refuses the machine (401 on a poll)
   * or the agent's task record is damaged.
   */
  async run(): Promise<void> {
    if (this.config.stageImage !== undefined && !this.options.mock) await checkDockerEngine();
    const lock = new AgentLock(this.config.dataDir);
    lock.acquire();
    try {
      await this.loop();
    } finally {
      lock.release();
    }
  }

  private async loop(): Promise<void> {
    const recorded = this.state.read();
    if (recorded !== undefined) await this.runTask(recorded);
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      let task: QueuedTask | undefined;
      try {
        task = await this.client.pollTask(this.stopping.signal);
        if (failures > 0) this.say(`poll: the server answers again after ${failures} failed polls`);
        failures = 0;
      } catch (error) {
        if (this.stopping.signal.aborted) break;
        if (isAliceError(error, 'ALICE_UNAUTHORIZED')) throw error;
        const id = isAliceError(error, 'ALICE_TASK_INVALID') ? error.details.id : undefined;
        if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) {
          // The server handed the task to this machine: tell it, or it stays Training forever.
          this.say(`task ${id}: ${(error as Error).message}`);
          await this.finishFailed({ task: { ID: id, AODFiles: [], Configuration: {} }, failed: true });
          continue;
        }
        failures++;
        const delay = backoffDelay({ ...DEFAULT_POLL_BACKOFF, ...this.options.pollBackoff }, failures);
        this.say(`poll failed (${(error as Error).message}); polling again in ${delay} ms`);
        await this.pause(delay);
        continue;
      }
      if (task === undefined) {
        await this.pause(this.config.pollWaitMs);
        continue;
      }
      this.say(`task ${task.ID}: received (${task.AODFiles.length} AOD files)`);
      await this.runTask({ task });
    }
  }

  /** Stops polling; a running task is cancelled and kept for the next start. */
  stop(reason = 'agent stopping'): void {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort(new Error(reason));
    this.current?.cancel(reason);
  }

  private async runTask(state: TaskState): Promise<void> {
    const { task } = state;
    const folders = taskFolders(this.config, task.ID);
    if (state.failed) return this.finishFailed(state);
    mkdirSync(folders.work, { recursive: true });
    mkdirSync(folders.logs, { recursive: true });
    if (state.runId === undefined) {
      this.state.write(state);
      writeFileSync(join(folders.work, 'train.json'), JSON.stringify(task.Configuration ?? {}, null, 2));
    }
    const runtime = await this.createRuntime(folders.work);
    let result: RunResult | 'finished' | 'failed';
    let cancelledByServer = false;
    try {
      const handle = await this.startRun(runtime, state);
      if (handle === 'finished' || handle === 'failed') {
        result = handle;
      } else {
        this.current = handle;
        if (this.stopping.signal.aborted) handle.cancel('agent stopping');
        const logs = handle.events$.subscribe((event) => this.onRunEvent(task.ID, event));
        const beats = this.heartbeats(task.ID, (why) => {
          cancelledByServer = true;
          handle.cancel(why);
        });
        try {
          result = await handle.done;
        } finally {
          beats.stop();
          logs.unsubscribe();
          this.current = undefined;
        }
      }
    } finally {
      await runtime.close();
    }
    if (result === 'finished' || (result !== 'failed' && result.status === 'succeeded')) {
      this.say(`task ${task.ID}: completed`);
      return this.finish(task.ID, 'completed');
    }
    if (result !== 'failed' && result.status === 'cancelled') {
      if (cancelledByServer) {
        this.say(`task ${task.ID}: ${result.error?.message ?? 'cancelled by the coordinator'}`);
        return this.finish(task.ID, 'cancelled');
      }
      this.say(`task ${task.ID}: stopped; it resumes at the next start`);
      this.options.onTaskEnd?.(task.ID, 'stopped');
      return;
    }
    if (result === 'failed') {
      this.say(`task ${task.ID}: its run had failed before the agent stopped`);
    } else {
      const failedStep = Object.entries(result.steps).find(([, s]) => s.status === 'failed');
      this.say(
        `task ${task.ID}: failed${failedStep ? ` in ${failedStep[0]}` : ''}: ${result.error?.message ?? failedStep?.[1].error?.message ?? 'unknown error'}`,
      );
    }
    const failed: TaskState = { ...state, failed: true, ...(result !== 'failed' && { runId: result.runId }) };
    this.state.write(failed);
    return this.finishFailed(failed);
  }

  /** Posts `Failed` (retried while the server is away; given up on a 401: the task is no longer ours). */
  private async finishFailed(state: TaskState): Promise<void> {
    const id = state.task.ID;
    try {
      await withRetries(() => this.client.postStatus(id, TaskStatus.Failed, this.stopping.signal), {
        signal: this.stopping.signal,
        attempts: Number.POSITIVE_INFINITY,
        backoff: { maxDelayMs: 60_000 },
        onRetry: (attempt, delay, error) =>
          this.say(
            `task ${id}: posting Failed: ${(error as Error).message}; retry ${attempt} in ${delay} ms`,
          ),
      });
    } catch (error) {
      if (this.stopping.signal.aborted) {
        this.say(`task ${id}: Failed not posted yet; it is posted at the next start`);
        return;
      }
      this.say(`task ${id}: Failed could not be posted (${(error as Error).message}); task abandoned`);
      return this.finish(id, 'abandoned');
    }
    this.say(`task ${id}: posted Failed`);
    return this.finish(id, 'failed');
  }

  private finish(taskId: number, outcome: TaskOutcome): void {
    const folders = taskFolders(this.config, taskId);
    // The AODs stay in the grid cache; the task's copies, its intermediate files and results go.
    rmSync(folders.work, { recursive: true, force: true });
    rmSync(folders.results, { recursive: true, force: true });
    this.state.clear();
    this.options.onTaskEnd?.(taskId, outcome);
  }

  private async createRuntime(cwd: string): Promise<Runtime> {
    const config = this.config;
    const store = SqliteStore.open({ cwd: config.dataDir, retention: { keepDays: 30, keepRuns: 100 } });
    return createRuntime({
      cwd,
      store,
      ...(config.gpus !== undefined && { resources: { gpus: [...config.gpus] } }),
      plugins: [
        createAliceTraintPlugin({
          client: this.client,
          grid: {
            defaults: {
              ...this.options.grid,
              cacheDir: config.gridCacheDir,
              resolveReplicas: (lfn) =>
                Promise.resolve({
                  replicas: config.replicaBaseUrls.map((base) => ({
                    url: `${base}${lfn.startsWith('/') ? '' : '/'}${lfn}`,
                  })),
                }),
            },
          },
        }),
        // Stages in containers; its janitor removes at start-up what a killed agent's stage left running.
        ...(config.stageImage === undefined ? [] : [createDockerPlugin({ project: 'alicetraint' })]),
      ],
    });
  }

  /**
   * A new run for a new task, or the recorded run resumed; `finished` when it had already succeeded,
   * `failed` when it had failed (an agent stopped between the failure and recording it): a failed task
   * is reported, not run again.
   */
  private async startRun(runtime: Runtime, state: TaskState): Promise<RunHandle | 'finished' | 'failed'> {
    if (state.runId !== undefined) {
      const recorded = await runtime.resolve(Tokens.Store).runState(state.runId);
      if (recorded?.status === 'failed') return 'failed';
      try {
        const handle = await runtime.resume(state.runId);
        this.say(`task ${state.task.ID}: resuming run ${state.runId}`);
        return handle;
      } catch (error) {
        if (isCoreError(error, 'CORE_RUN_FINISHED')) return 'finished';
        if (!isCoreError(error, 'CORE_RUN_NOT_FOUND')) throw error;
        this.say(`task ${state.task.ID}: run ${state.runId} is not in the store; starting the task again`);
      }
    }
    const pipeline = buildTaskPipeline(
      state.task,
      this.config,
      this.options.mock ? { mock: this.options.mock } : {},
    );
    // A fresh task never takes stage results from another task's run; the AODs come from the grid cache.
    const handle = await runtime.run(pipeline, { noCache: true });
    this.state.write({ task: state.task, runId: handle.id });
    this.say(`task ${state.task.ID}: run ${handle.id} started`);
    return handle;
  }

  private heartbeats(taskId: number, onCancel: (why: string) => void): { stop(): void } {
    const every = this.options.heartbeatMs ?? 30_000;
    const ctl = new AbortController();
    void (async () => {
      while (!ctl.signal.aborted) {
        await sleep(every, undefined, { signal: ctl.signal }).catch(() => undefined);
        if (ctl.signal.aborted) return;
        try {
          const answer = await this.client.heartbeat(taskId, ctl.signal);
          if (!answer.supported) return;
          if (answer.cancel) return onCancel('cancelled by the coordinator');
        } catch (error) {
          if (isAliceError(error, 'ALICE_UNAUTHORIZED')) {
            // Requeued after the lease (this machine was unreachable too long): no longer ours.
            return onCancel('the coordinator no longer assigns the task to this machine');
          }
          if (!ctl.signal.aborted) this.say(`task ${taskId}: heartbeat failed: ${(error as Error).message}`);
        }
      }
    })();
    return { stop: () => ctl.abort() };
  }

  private onRunEvent(taskId: number, event: RunEvent): void {
    // eslint-disable-next-line @typescript-eslint/switch-exhaustiveness-check -- only these are told
    switch (event.type) {
      case 'started':
        this.say(`task ${taskId}: ${event.stepId}: started`);
        return;
      case 'log':
        for (const line of event.text.replace(/\n$/, '').split('\n')) {
          this.say(`task ${taskId}: ${event.stepId}${event.stream === 'stderr' ? ' (stderr)' : ''}: ${line}`);
        }
        return;
      case 'succeeded':
        this.say(`task ${taskId}: ${event.stepId}: done`);
        return;
      case 'failed':
        this.say(`task ${taskId}: ${event.stepId}: failed: ${event.error.message}`);
        return;
      default:
        return;
    }
  }

  private async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.stopping.signal }).catch(() => undefined);
  }

  private say(line: string): void {
    this.options.log?.(line);
  }
}

/**
 * Stages in containers need the Docker engine: without it every task the machine claims would fail, so
 * the agent refuses to start (`ALICE_CONFIG_INVALID`, exit status 2) before its first poll.
 */
async function checkDockerEngine(): Promise<void> {
  const docker = createDockerClient();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer within 20 s')), 20_000);
      }),
    ]);
  } catch (error) {
    throw new AliceError(
      'ALICE_CONFIG_INVALID',
      `ALICETRAINT_STAGE_IMAGE is set, but the Docker engine does not answer (${(error as Error).message}): ` +
        "start it, or check DOCKER_HOST and that the agent's user may use the engine's socket",
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
}
