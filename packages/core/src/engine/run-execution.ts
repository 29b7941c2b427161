import { setMaxListeners } from 'node:events';
import { statSync } from 'node:fs';
import path from 'node:path';
import { inject, injectable } from '../di/tsyringe.js';
import type { Artifact } from '../contracts/artifact.js';
import { STEP_LABELS, type Command, type CommandContext } from '../contracts/command.js';
import type { CacheKeyParts, ErrorInfo, StepProcess } from '../contracts/events.js';
import type { PlannedStep } from '../contracts/pipeline.js';
import type { ResourceGrant, ResourceRequest } from '../contracts/resources.js';
import type { Clock, RunResult, RuntimeConfig } from '../contracts/runtime.js';
import type { Runner, RunnerLookup } from '../contracts/runner.js';
import type { CacheRecord, RunState, StepState, Store } from '../contracts/store.js';
import { Tokens } from '../di/tokens.js';
import { isRetryable } from '../errors/beamline-error.js';
import { CoreError, isCoreError } from '../errors/core-error.js';
import { forEachStepRead, resolveStepParams } from '../pipeline/resolve-step-params.js';
import type { NamedRegistry } from '../registry/named-registry.js';
import type { Lease, ResourcePool } from '../resources/resource-pool.js';
import { InternalTokens } from '../runtime/internal-tokens.js';
import { canonicalJson } from '../util/canonical-json.js';
import { ownValue } from '../util/own-keys.js';
import { toError, toErrorInfo } from '../util/error-info.js';
import { sleep } from '../util/sleep.js';
import { backoffDelay } from '../util/backoff.js';
import { cacheKey, inputDigests } from './cache-key.js';
import type { RunContext } from './run-context.js';
import type { RunEventLog } from './run-event-log.js';
import { recordProcesses } from './record-processes.js';
import { RunningAttempts, StepAttempt, type AttemptResult } from './step-attempt.js';
import { describeRecordedWork, stopRecordedWork } from './stop-recorded-work.js';
import { StepGraph } from './step-graph.js';
import { StepQueue } from './step-queue.js';
import { StepResults } from './step-results.js';
import { validateParams } from './validate-params.js';

type Outcome = 'done' | 'failed' | 'cancelled';

/** Outcomes by plan position, one byte each: 0 while the step has none. */
const NO_OUTCOME = 0;
const OUTCOME_CODES: Readonly<Record<Outcome, number>> = { done: 1, failed: 2, cancelled: 3 };

/** What a completed step passes on to its dependants (its outputs and artifacts). */
type Completed = AttemptResult;

/**
 * The per-step bookkeeping of a run, by plan position: what a step waits for, what it ended with, the results
 * still to be read, the queue of steps ready to run. Typed arrays rather than maps keyed by step id: for
 * 100,000 steps a few MB instead of tens, and nothing that grows while the steps run.
 */
interface StepBook {
  graph: StepGraph;
  results: StepResults;
  /** One of {@link OUTCOME_CODES}, or {@link NO_OUTCOME}. */
  outcomes: Uint8Array;
  /** How many needs a pending step still waits for. */
  waitingOn: Int32Array;
  queue: StepQueue;
}

/** A step ready to run: its command and runner, validated parameters and cache key. */
interface StepWork {
  step: PlannedStep;
  command: Command;
  runner: Runner;
  params: unknown;
  key: string;
  keyParts: CacheKeyParts;
  /**
   * The artifacts of its needs and of the steps its expressions read, taken while they are kept (they are
   * released once the step is prepared).
   */
  inputs: readonly Artifact[];
  /** When the engine took the step up: its duration counts from here. */
  startedAt: number;
}

/**
 * Executes one run: the plan's DAG with bounded parallelism. A step waits for its needs, then for
 * resources, then runs its attempts with timeout and retry; its completion is durable in the store before
 * its dependants start. Lives in the run's child container (one instance per run).
 */
@injectable()
export class RunExecution {
  private readonly abort = new AbortController();
  private readonly running = new RunningAttempts();
  /** The errors of failed steps (few), and which failed first. */
  private readonly failures = new Map<string, ErrorInfo>();
  private firstFailed: string | undefined;
  /** Present while the steps run; released before the result is built. */
  private book: StepBook | undefined;
  /** Set when the store failed: the run stops and `run()` rejects with it. */
  private internalFailure: CoreError | undefined;

  constructor(
    @inject(InternalTokens.RunContext) private readonly context: RunContext,
    @inject(InternalTokens.RunEventLog) readonly log: RunEventLog,
    @inject(Tokens.Store) private readonly store: Store,
    @inject(InternalTokens.Commands) private readonly commands: NamedRegistry<Command>,
    @inject(Tokens.Runners) private readonly runners: RunnerLookup,
    @inject(Tokens.ResourcePool) private readonly pool: ResourcePool,
    @inject(Tokens.Config) private readonly config: RuntimeConfig,
    @inject(Tokens.Clock) private readonly clock: Clock,
  ) {
    // Commands listen on the run's signal (it is the signal of every attempt without a timeout).
    setMaxListeners(0, this.abort.signal);
    // The run's one listener stops the running attempts: none listens itself (see RunningAttempts). Being
    // there from start to end also keeps the signal's list of `abort` listeners in place: Node 20 drops that
    // list (a map entry) when its last listener goes and makes it anew with the next, and with one command
    // listening at a time (a chain) that churn of a long-lived map left garbage in the old generation.
    this.abort.signal.addEventListener('abort', () => this.running.stopAll(this.abort.signal.reason));
    this.log.onStoreFailure((error) => this.stopOnInternalFailure(error));
  }

  get runId(): string {
    return this.context.record.id;
  }

  /** Stops running work (SIGTERM, grace, SIGKILL) and skips what has not started; the reason is recorded. */
  cancel(reason = 'cancelled'): void {
    if (!this.abort.signal.aborted) {
      this.abort.abort(new CoreError('CORE_CANCELLED', `Run cancelled: ${reason}`, { details: { reason } }));
    }
  }

  /** Runs to the end; resolves with the result whatever the status, rejects only if the store fails. */
  async run(): Promise<RunResult> {
    const startedAt = this.clock.now();
    const { plan, resumeFrom } = this.context;
    this.log.emit({ type: 'run-started', pipeline: plan.pipeline, resumed: resumeFrom !== undefined });

    const graph = new StepGraph(plan.steps);
    const outcomes = new Uint8Array(graph.size);
    const recorded = (position: number): StepState | undefined =>
      resumeFrom && ownValue(resumeFrom.steps, graph.step(position).id);
    for (let position = 0; position < graph.size; position++) {
      const status = recorded(position)?.status;
      if (status === 'succeeded' || status === 'cached') outcomes[position] = OUTCOME_CODES.done;
    }
    const results = new StepResults(graph, plan, (position) => outcomes[position] === NO_OUTCOME);
    for (let position = 0; position < graph.size; position++) {
      const step = recorded(position);
      if (outcomes[position] === OUTCOME_CODES.done && step) {
        results.keep(position, { outputs: step.outputs ?? {}, artifacts: step.artifacts ?? [] });
      }
    }
    const book: StepBook = {
      graph,
      results,
      outcomes,
      waitingOn: new Int32Array(graph.size),
      queue: new StepQueue(graph.size, this.config.maxParallel, (position) => this.runStep(position)),
    };
    this.book = book;

    if (resumeFrom) await this.stopOrphans(resumeFrom);
    let pending = 0;
    for (let position = 0; position < graph.size; position++) {
      if (outcomes[position] !== NO_OUTCOME) continue;
      let waiting = 0;
      for (let edge = graph.needsFrom[position]!; edge < graph.needsFrom[position + 1]!; edge++) {
        const need = graph.needs[edge]!;
        // A need the plan does not have is never met, as a need that has not run yet.
        if (need < 0 || outcomes[need] === NO_OUTCOME) waiting++;
      }
      book.waitingOn[position] = waiting;
      this.log.emit({ type: 'queued', stepId: graph.step(position).id });
      // Write in slices: a 100,000-step plan should not hold all its `queued` events in memory at once.
      if (pending++ % 2000 === 1999) await this.persist();
    }
    await this.persist();

    const stopPolling = this.pollRemoteCancel();
    try {
      if (pending > 0) {
        for (let position = 0; position < graph.size; position++) {
          if (outcomes[position] === NO_OUTCOME && book.waitingOn[position] === 0) book.queue.push(position);
        }
        await book.queue.drained();
      }
    } finally {
      stopPolling();
    }
    return this.finish(startedAt);
  }

  private async finish(startedAt: number): Promise<RunResult> {
    // The store cannot record an end; the one report of the failure is the rejection of `run()`.
    if (this.internalFailure) {
      await this.log.close().catch(() => undefined);
      throw this.internalFailure;
    }
    const durationMs = this.clock.now() - startedAt;
    const failed = this.firstFailed;
    let status: RunResult['status'];
    let error: ErrorInfo | undefined;
    if (this.abort.signal.aborted) {
      status = 'cancelled';
      this.log.emit({ type: 'run-cancelled', reason: this.cancelReason(), durationMs });
    } else if (failed !== undefined) {
      status = 'failed';
      const stepError = this.failures.get(failed);
      error = {
        code: 'CORE_STEP_FAILED',
        message: `Step "${failed}" failed: ${stepError?.message ?? 'unknown error'}`,
        retryable: false,
      };
      this.log.emit({ type: 'run-failed', error, durationMs });
    } else {
      status = 'succeeded';
      this.log.emit({ type: 'run-succeeded', durationMs });
    }
    await this.log.close().catch((error: unknown) => {
      throw this.internalFailure ?? error;
    });
    // The result holds a state object per step: build it with the bookkeeping gone.
    this.book = undefined;
    const state = await this.store.runState(this.runId);
    return {
      runId: this.runId,
      status,
      steps: state?.steps ?? {},
      durationMs,
      ...(error ? { error } : {}),
    };
  }

  private cancelReason(): string {
    const reason: unknown = this.abort.signal.reason;
    return isCoreError(reason) && typeof reason.details.reason === 'string'
      ? reason.details.reason
      : 'cancelled';
  }

  /** Another process asks through the store (`beamline cancel`); look now and then while running. */
  private pollRemoteCancel(): () => void {
    const timer = setInterval(() => {
      this.store.cancelRequested(this.runId).then(
        (reason) => reason !== undefined && this.cancel(reason),
        () => undefined,
      );
    }, this.config.cancelPollMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** The run's per-step bookkeeping; only while the steps run. */
  private get steps(): StepBook {
    if (this.book === undefined) throw new Error('RunExecution: the steps are not running');
    return this.book;
  }

  private async runStep(position: number): Promise<void> {
    const step = this.steps.graph.step(position);
    const outcome = await this.executeStep(step, position).catch((error: unknown) => {
      // Only the store can fail here: the whole run stops, and this step's events end where they are
      // (a `succeeded` the store could not record is not followed by a `failed`).
      this.stopOnInternalFailure(error);
      return 'cancelled' as const;
    });
    const { graph, outcomes, waitingOn, queue } = this.steps;
    this.settle(position, outcome);
    if (outcome === 'done') {
      for (let edge = graph.dependantsFrom[position]!; edge < graph.dependantsFrom[position + 1]!; edge++) {
        const dependant = graph.dependants[edge]!;
        if (--waitingOn[dependant]! === 0 && outcomes[dependant] === NO_OUTCOME) queue.push(dependant);
      }
    } else {
      this.skipDependants(position, outcome);
      // A failed write has already stopped the run (onStoreFailure).
      await this.log.flush().catch(() => undefined);
    }
  }

  /** Gives a step its outcome; what it would have read is released if it never read it. */
  private settle(position: number, outcome: Outcome): void {
    const { outcomes, results, graph } = this.steps;
    if (outcomes[position] !== NO_OUTCOME) return;
    outcomes[position] = OUTCOME_CODES[outcome];
    results.doneReading(position);
    if (outcome === 'failed') this.firstFailed ??= graph.step(position).id;
  }

  /**
   * Dependants of a step that did not complete can never run: record them as cancelled, transitively,
   * depth first (with a stack of its own: a chain of 100,000 steps would overflow the call stack).
   */
  private skipDependants(position: number, outcome: 'failed' | 'cancelled'): void {
    const { graph, outcomes } = this.steps;
    const parents = [position];
    const nextEdges = [graph.dependantsFrom[position]!];
    while (parents.length > 0) {
      const top = parents.length - 1;
      const parent = parents[top]!;
      const edge = nextEdges[top]!;
      if (edge === graph.dependantsFrom[parent + 1]) {
        parents.pop();
        nextEdges.pop();
        continue;
      }
      nextEdges[top] = edge + 1;
      const dependant = graph.dependants[edge]!;
      if (outcomes[dependant] !== NO_OUTCOME) continue;
      const parentOutcome = parent === position ? outcome : 'cancelled';
      const reason =
        parentOutcome === 'cancelled' && this.abort.signal.aborted
          ? this.cancelReason()
          : `needs step "${graph.step(parent).id}", which ${parentOutcome === 'failed' ? 'failed' : 'was cancelled'}`;
      this.settle(dependant, 'cancelled');
      this.log.emit({ type: 'cancelled', stepId: graph.step(dependant).id, reason });
      parents.push(dependant);
      nextEdges.push(graph.dependantsFrom[dependant]!);
    }
  }

  private async executeStep(step: PlannedStep, position: number): Promise<Outcome> {
    if (this.abort.signal.aborted) return this.recordCancelled(step);
    const command = this.commands.require(step.uses);
    const runner = this.runners.require(step.runner);
    const startedAt = this.clock.now();

    let work: StepWork;
    try {
      work = await this.prepare(step, command, runner, startedAt);
    } catch (error) {
      return this.recordFailed(step, 0, error, startedAt);
    } finally {
      // The step has read its needs' results (or never will): nothing further up waits on it.
      this.steps.results.doneReading(position);
    }

    if (step.cache && !this.context.noCache) {
      const hit = await this.store.getCache(work.key);
      if (hit && artifactsIntact(hit.artifacts)) return this.recordCached(step, position, hit);
    }

    if (runner.placement === 'remote') {
      // Another scheduler places the work: nothing of this host's pool is taken, the request goes along.
      return this.attempts(work, position, requestedGrant(step.resources));
    }
    let lease: Lease;
    try {
      lease = await this.pool.acquire(step.resources, this.abort.signal, step.id);
    } catch (error) {
      return this.abort.signal.aborted
        ? this.recordCancelled(step)
        : this.recordFailed(step, 0, error, startedAt);
    }
    try {
      return await this.attempts(work, position, lease.grant);
    } finally {
      lease.release();
    }
  }

  /** Resolves and validates the step's parameters and computes its cache key. */
  private async prepare(
    step: PlannedStep,
    command: Command,
    runner: Runner,
    startedAt: number,
  ): Promise<StepWork> {
    const { results } = this.steps;
    const raw = resolveStepParams(step, (id) => results.outputsOf(id), this.context.plan);
    const params = await validateParams(command, raw, step.id, {
      baseId: step.baseId,
      file: this.context.plan.source ?? `pipeline ${this.context.plan.pipeline}`,
    });
    const keyParts = await this.keyParts(step, command, runner, raw, params);
    // What the step may read: its needs' files, and those of steps further up its expressions name.
    const from = new Set(step.needs);
    forEachStepRead(step, this.context.plan, (id) => from.add(id));
    const inputs = [...from].flatMap((id) => results.artifactsOf(id));
    return { step, command, runner, params, key: cacheKey(keyParts), keyParts, inputs, startedAt };
  }

  /** Attempts until one succeeds, the retry budget is spent, an error is not retryable or the run stops. */
  private async attempts(work: StepWork, position: number, grant: ResourceGrant): Promise<Outcome> {
    const { step, key, keyParts, startedAt } = work;
    // A resumed step keeps counting attempts but gets its full budget again.
    const resumed = this.context.resumeFrom;
    const base = (resumed && ownValue(resumed.steps, step.id)?.attempt) ?? 0;
    for (let n = 1; ; n++) {
      const attempt = base + n;
      this.log.emit({ type: 'started', stepId: step.id, attempt, resources: grant, key, keyParts });
      let result: Completed;
      try {
        result = await this.attempt(work, grant, attempt);
      } catch (error) {
        if (this.abort.signal.aborted) return this.recordCancelled(step);
        if (!isRetryable(error) || n >= step.retry.attempts) {
          return this.recordFailed(step, attempt, error, startedAt);
        }
        const delayMs = backoffDelay(step.retry, n);
        this.log.emit({ type: 'retrying', stepId: step.id, attempt, delayMs, error: toErrorInfo(error) });
        try {
          await sleep(delayMs, this.abort.signal);
        } catch {
          return this.recordCancelled(step);
        }
        continue;
      }
      // Outside the attempt's try: a store that fails to record the success is not a failed attempt.
      this.steps.results.keep(position, result);
      this.log.emit({
        type: 'succeeded',
        stepId: step.id,
        attempt,
        outputs: result.outputs,
        artifacts: result.artifacts,
        durationMs: this.clock.now() - startedAt,
      });
      await this.log.flush();
      if (step.cache) await this.store.putCache(this.cacheRecord(step, key, keyParts, result));
      return 'done';
    }
  }

  /** One attempt: the command's stream, bounded by the step's timeout and the run's cancellation. */
  private async attempt(work: StepWork, resources: ResourceGrant, attempt: number): Promise<Completed> {
    const { step, command, runner, params, inputs } = work;
    const running = new StepAttempt({
      stepId: step.id,
      attempt,
      timeoutMs: step.timeoutMs,
      runSignal: this.abort.signal,
      stopGraceMs: this.config.stopGraceMs,
      log: this.log,
      execute: (signal) =>
        command.execute(this.commandContext(step, runner, resources, attempt, signal, inputs), params),
    });
    const entry = this.running.add(running);
    try {
      return await running.run();
    } finally {
      this.running.remove(entry);
    }
  }

  /** What the command of an attempt is given: ids, its signal, folders, resources, the watched runner. */
  private commandContext(
    step: PlannedStep,
    runner: Runner,
    resources: ResourceGrant,
    attempt: number,
    signal: AbortSignal,
    inputs: readonly Artifact[],
  ): CommandContext {
    return {
      runId: this.runId,
      stepId: step.id,
      attempt,
      signal,
      workdir: this.context.record.cwd,
      stepDir: path.join(this.context.record.cwd, '.beamline', 'runs', this.runId, safeName(step.id)),
      resources,
      request: step.resources,
      timeoutMs: step.timeoutMs,
      runner: recordProcesses(runner, (process) => this.recordProcess(step.id, attempt, process)),
      labels: {
        [STEP_LABELS.run]: this.runId,
        [STEP_LABELS.step]: step.id,
        [STEP_LABELS.pipeline]: this.context.plan.pipeline,
      },
      inputs,
    };
  }

  /** Makes what a runner started durable at once: after a crash, it is how the next engine finds it. */
  private recordProcess(stepId: string, attempt: number, process: StepProcess): void {
    this.log.emit({ type: 'process', stepId, attempt, process });
    void this.log.flush().catch(() => undefined);
  }

  /**
   * Before a resumed run re-runs a step that was running when its engine died, stops what that step left
   * running (a process group outlives `kill -9` of the engine, and so does a cluster job), so that two
   * copies never run side by side. Work that cannot be stopped now (a cluster out of reach) is said in the
   * step's log.
   */
  private async stopOrphans(resumeFrom: RunState): Promise<void> {
    const orphans = Object.values(resumeFrom.steps).filter(
      (step): step is StepState & { process: StepProcess } =>
        step.status === 'running' && step.process !== undefined,
    );
    await Promise.all(
      orphans.map(async (step) => {
        const what = describeRecordedWork(step.process);
        let text: string;
        try {
          if ((await stopRecordedWork(step.process, this.runners)) !== 'stopped') return;
          text = `Stopped ${what} that attempt ${step.attempt} left running when its engine died.\n`;
        } catch (error) {
          text = `Could not stop ${what}, which attempt ${step.attempt} left running when its engine died: ${toError(error).message}\n`;
        }
        this.log.emit({ type: 'log', stepId: step.stepId, attempt: step.attempt, stream: 'system', text });
      }),
    );
  }

  /** {@link RunEventLog.flush}, rejecting with the run's one clear failure when the store fails. */
  private async persist(): Promise<void> {
    try {
      await this.log.flush();
    } catch (error) {
      this.stopOnInternalFailure(error);
      throw this.internalFailure ?? toError(error);
    }
  }

  /**
   * The store failed (or, defensively, anything else outside a step's own work): nothing the run does can
   * be recorded any more, so it stops every attempt (SIGTERM, grace, SIGKILL) and skips what has not
   * started; `run()` then rejects with one error that says what happened.
   */
  private stopOnInternalFailure(error: unknown): void {
    if (this.internalFailure) return;
    const cause = error instanceof Error ? error.message : String(error);
    const what = isCoreError(error, 'CORE_STORE_FAILED') ? 'its store failed' : 'of an internal error';
    this.internalFailure = new CoreError(
      'CORE_STORE_FAILED',
      `Run ${this.runId} stopped because ${what}: ${cause}. Every running step was stopped; resume the run once ${this.store.description} can be written again.`,
      {
        cause: error,
        details: { runId: this.runId, store: this.store.description, reason: `stopped: ${what}` },
      },
    );
    this.abort.abort(this.internalFailure);
  }

  private async keyParts(
    step: PlannedStep,
    command: Command,
    runner: Runner,
    raw: Record<string, unknown>,
    params: unknown,
  ): Promise<CacheKeyParts> {
    const request = command.runnerIdentity === undefined ? {} : command.runnerIdentity(params);
    const runnerIdentity = request === null ? '-' : await runner.identity(request);
    return {
      command: command.name,
      commandVersion: command.version,
      params: canonicalJson(raw),
      inputs: inputDigests(step.needs.map((id) => [id, this.steps.results.artifactsOf(id)])),
      runner: runnerIdentity,
    };
  }

  private cacheRecord(
    step: PlannedStep,
    key: string,
    keyParts: CacheKeyParts,
    result: Completed,
  ): CacheRecord {
    return {
      key,
      keyParts,
      scope: `${this.context.plan.pipeline}/${step.id}`,
      outputs: result.outputs,
      artifacts: result.artifacts,
      runId: this.runId,
      stepId: step.id,
      createdAt: this.clock.now(),
    };
  }

  private async recordCached(step: PlannedStep, position: number, hit: CacheRecord): Promise<Outcome> {
    this.steps.results.keep(position, { outputs: hit.outputs, artifacts: hit.artifacts });
    this.log.emit({
      type: 'cached',
      stepId: step.id,
      key: hit.key,
      keyParts: hit.keyParts,
      outputs: hit.outputs,
      artifacts: hit.artifacts,
      fromRunId: hit.runId,
    });
    await this.log.flush();
    return 'done';
  }

  private async recordFailed(
    step: PlannedStep,
    attempt: number,
    error: unknown,
    startedAt: number,
  ): Promise<Outcome> {
    const info = toErrorInfo(error);
    this.failures.set(step.id, info);
    this.log.emit({
      type: 'failed',
      stepId: step.id,
      attempt,
      error: info,
      durationMs: this.clock.now() - startedAt,
    });
    await this.log.flush();
    return 'failed';
  }

  private recordCancelled(step: PlannedStep): Outcome {
    this.log.emit({ type: 'cancelled', stepId: step.id, reason: this.cancelReason() });
    return 'cancelled';
  }
}

/**
 * What a step placed by another scheduler is recorded as granted: its CPU and memory counts, and no GPU
 * ids (its scheduler picks them; the runner reports them in the step's `process` event).
 */
function requestedGrant(request: ResourceRequest): ResourceGrant {
  return { cpus: request.cpus ?? 1, memoryMb: request.memoryMb ?? 0, gpus: [] };
}

/** A cached result is only reusable while the files it points to are still there. */
function artifactsIntact(artifacts: readonly Artifact[]): boolean {
  return artifacts.every((artifact) => {
    try {
      return statSync(artifact.path).size === artifact.size;
    } catch {
      return false;
    }
  });
}

function safeName(stepId: string): string {
  return stepId.replace(/[^A-Za-z0-9._-]+/g, '_');
}
