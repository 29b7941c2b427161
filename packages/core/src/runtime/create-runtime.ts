import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Observable } from 'rxjs';
import type { EventEmitter } from 'eventemitter3';
import type { Command } from '../contracts/command.js';
import type { PipelineDefinition, Plan } from '../contracts/pipeline.js';
import type {
  Explanation,
  RunHandle,
  RunOptions,
  Runtime,
  RuntimeConfig,
  RuntimeEvent,
  RuntimeEventMap,
  RuntimeOptions,
} from '../contracts/runtime.js';
import type { Runner } from '../contracts/runner.js';
import type { RunOwner, RunRecord, RunState, Store } from '../contracts/store.js';
import { Container, resolving } from '../di/container.js';
import { createToken, type Token } from '../di/token.js';
import { Tokens } from '../di/tokens.js';
import { CoreError } from '../errors/core-error.js';
import { explainStep } from '../engine/explain-step.js';
import { RunEventLog } from '../engine/run-event-log.js';
import { RunExecution } from '../engine/run-execution.js';
import { toEmitter } from '../engine/to-emitter.js';
import { reapInterruptedRuns } from '../engine/reap-interrupted-runs.js';
import { checkPlanParams } from '../engine/validate-params.js';
import { pipelineSourceOf } from '../pipeline/pipeline-source.js';
import { currentProcessIdentity } from '../process/process-identity.js';
import { loadPipelineFile } from '../pipeline/load-pipeline-file.js';
import { planPipeline } from '../pipeline/plan-pipeline.js';
import type { NamedRegistry } from '../registry/named-registry.js';
import { defaultCapacity } from '../resources/default-capacity.js';
import { ResourcePool } from '../resources/resource-pool.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { systemClock } from '../util/clock.js';
import { registerBuiltins } from './builtins.js';
import { InternalTokens } from './internal-tokens.js';
import { orderPlugins } from './order-plugins.js';
import { PluginHost } from './plugin-host.js';
import { RuntimeEvents } from './runtime-events.js';

const RunExecutionToken = createToken<RunExecution>('beamline.internal.RunExecution');

/**
 * Creates a runtime: an isolated DI container with the core's services (`Tokens`), the built-ins
 * (`exec`, the `local` runner), the given plugins registered in dependency order, their classes built
 * and the plugins started, and the store (a `SqliteStore` in `<cwd>/.beamline/` by default).
 */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const plugins = orderPlugins(options.plugins ?? []);
  const clock = options.clock ?? systemClock;
  const events = new RuntimeEvents(clock);
  const store =
    options.store ??
    SqliteStore.open({
      cwd,
      onWarning: ({ message, details }) =>
        events.emit({ level: 'warning', source: 'store', message, details }),
    });
  const config: RuntimeConfig = Object.freeze({
    cwd,
    maxParallel: options.maxParallel ?? 64,
    cancelPollMs: options.cancelPollMs ?? 250,
    stopGraceMs: 30_000,
  });
  const container = Container.create();
  const host = new PluginHost(container);
  const started: Array<{ stop?: () => Promise<void> }> = [];
  try {
    container.provide(Tokens.Store, store);
    container.provide(Tokens.Config, config);
    container.provide(Tokens.Clock, clock);
    container.provide(Tokens.Events, events);
    container.provide(Tokens.Runners, host.runnerLookup());
    container.provide(Tokens.ResourcePool, new ResourcePool(defaultCapacity(options.resources)));
    container.provide(InternalTokens.Commands, host.commands);
    container.providePerContainer(RunExecutionToken, RunExecution);

    registerBuiltins(host.registryFor('core'));
    for (const plugin of plugins) plugin.register(host.registryFor(plugin.name));
    host.buildAll();

    for (const plugin of plugins) {
      await plugin.start?.({
        store,
        cwd,
        events,
        resolve: (token) =>
          resolving(describe(token), `Plugin "${plugin.name}"`, () => container.resolve(token)),
      });
      started.push(plugin);
    }
    for (const service of host.services.values()) {
      await service.start();
      started.push(service);
    }
    // Step work that outlived a crashed engine is stopped before this runtime runs anything: processes
    // by core, cluster jobs by their runners (which exist once the plugins are built and started).
    await reapInterruptedRuns(store, host.runnerLookup(), events);
  } catch (error) {
    await stopAll(started);
    await container.dispose().catch(() => undefined);
    events.close();
    await store.close();
    throw error;
  }
  return new BeamlineRuntime(container, store, config, events, host.commands, host.runners, started);
}

async function stopAll(started: ReadonlyArray<{ stop?: () => Promise<void> }>): Promise<void> {
  for (const item of [...started].reverse()) await item.stop?.().catch(() => undefined);
}

function describe(token: Token<unknown>): string {
  return `token ${token.description ?? String(token)}`;
}

class BeamlineRuntime implements Runtime {
  private readonly active = new Map<string, { execution: RunExecution; done: Promise<unknown> }>();
  private readonly owner: RunOwner = currentProcessIdentity();
  private closed = false;

  constructor(
    private readonly container: Container,
    readonly store: Store,
    private readonly config: RuntimeConfig,
    private readonly runtimeEvents: RuntimeEvents,
    private readonly commands: NamedRegistry<Command>,
    private readonly runners: NamedRegistry<Runner>,
    private readonly started: ReadonlyArray<{ stop?: () => Promise<void> }>,
  ) {}

  get cwd(): string {
    return this.config.cwd;
  }

  get events$(): Observable<RuntimeEvent> {
    return this.runtimeEvents.events$;
  }

  get events(): EventEmitter<RuntimeEventMap> {
    return this.runtimeEvents.emitter;
  }

  resolve<T>(token: Token<T>): T {
    return resolving(describe(token), 'runtime.resolve', () => this.container.resolve(token));
  }

  get capacity() {
    return this.container.resolve(Tokens.ResourcePool).capacity;
  }

  command(name: string): Command | undefined {
    return this.commands.get(name);
  }

  runner(name: string): Runner | undefined {
    return this.runners.get(name);
  }

  async runFile(file: string, options: Omit<RunOptions, 'source'> = {}): Promise<RunHandle> {
    const source = path.resolve(this.cwd, file);
    return this.run(await loadPipelineFile(source), { ...options, source });
  }

  async run(pipeline: PipelineDefinition, options: RunOptions = {}): Promise<RunHandle> {
    this.assertOpen();
    const plan = planPipeline(pipeline, {
      ...(options.params ? { params: options.params } : {}),
      ...(options.source ? { source: options.source } : {}),
      hasCommand: (name) => this.commands.has(name),
      commandNames: () => this.commands.names(),
      hasRunner: (name) => this.runners.has(name),
      runnerNames: () => this.runners.names(),
    });
    await this.checkBeforeRunning(plan, pipeline);
    const record: RunRecord = {
      id: newRunId(),
      pipeline: plan.pipeline,
      plan,
      params: plan.params,
      cwd: this.cwd,
      ...(options.source ? { source: options.source } : {}),
      createdAt: this.container.resolve(Tokens.Clock).now(),
    };
    await this.store.createRun(record);
    await this.store.claimRun(record.id, this.owner);
    return this.start(record, plan, undefined, options.noCache === true);
  }

  async resume(runId: string): Promise<RunHandle> {
    this.assertOpen();
    const record = await this.store.getRun(runId);
    const state = await this.store.runState(runId);
    if (!record || !state) {
      throw new CoreError('CORE_RUN_NOT_FOUND', `No run "${runId}" in ${this.store.description}.`, {
        details: { runId },
      });
    }
    if (state.status === 'succeeded') {
      throw new CoreError(
        'CORE_RUN_FINISHED',
        `Run "${runId}" already succeeded; there is nothing to resume.`,
        {
          details: { runId },
        },
      );
    }
    if (this.active.has(runId)) {
      throw new CoreError('CORE_RUN_ACTIVE', `Run "${runId}" is already running in this process.`, {
        details: { runId },
      });
    }
    await this.store.claimRun(runId, this.owner);
    return this.start(record, record.plan as Plan, state, false);
  }

  async cancel(runId: string, reason = 'cancelled'): Promise<void> {
    const local = this.active.get(runId);
    if (local) {
      local.execution.cancel(reason);
      return;
    }
    const state = await this.store.runState(runId);
    if (!state)
      throw new CoreError('CORE_RUN_NOT_FOUND', `No run "${runId}" in ${this.store.description}.`, {
        details: { runId },
      });
    if (state.status !== 'running') {
      throw new CoreError('CORE_RUN_FINISHED', `Run "${runId}" is not running (status: ${state.status}).`, {
        details: { runId, status: state.status },
      });
    }
    await this.store.requestCancel(runId, reason);
  }

  explain(runId: string, stepId: string): Promise<Explanation> {
    return explainStep(this.store, runId, stepId);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const running = [...this.active.values()];
    for (const { execution } of running) execution.cancel('runtime closed');
    await Promise.allSettled(running.map(({ done }) => done));
    await stopAll(this.started);
    await this.container.dispose();
    this.runtimeEvents.close();
    await this.store.close();
  }

  /** Rejects before anything runs: resources that can never be granted, parameters already known to be wrong. */
  private async checkBeforeRunning(plan: Plan, pipeline: PipelineDefinition): Promise<void> {
    const pool = this.container.resolve(Tokens.ResourcePool);
    // The runners as the engine uses them: placed by a plugin, if one places them.
    const runners = this.container.resolve(Tokens.Runners);
    for (const step of plan.steps) {
      // A step another scheduler places is checked there (a cluster's partition), not against this host.
      if (runners.get(step.runner)?.placement !== 'remote') pool.effective(step.resources, step.id);
    }
    const source = pipelineSourceOf(pipeline);
    await checkPlanParams(plan, (step) => this.commands.require(step.uses), {
      ...(source?.locate && { locate: source.locate }),
      file: plan.source ?? source?.file ?? `pipeline ${plan.pipeline}`,
    });
  }

  private start(
    record: RunRecord,
    plan: Plan,
    resumeFrom: RunState | undefined,
    noCache: boolean,
  ): RunHandle {
    const runContainer = this.container.child();
    runContainer.provide(InternalTokens.RunContext, {
      record,
      plan,
      noCache,
      ...(resumeFrom ? { resumeFrom } : {}),
    });
    runContainer.provide(
      InternalTokens.RunEventLog,
      new RunEventLog(this.store, record.id, resumeFrom?.lastSeq ?? 0, this.container.resolve(Tokens.Clock)),
    );
    const execution = runContainer.resolve(RunExecutionToken);
    const events = toEmitter(execution.log.live$);
    let ended = false;
    const done = execution
      .run()
      .then((result) => {
        ended = true;
        return result;
      })
      .finally(async () => {
        this.active.delete(record.id);
        // A run that could not record its end (its store failed) stays claimed: once this process is
        // gone it shows as interrupted, not as running forever.
        if (ended) await this.store.releaseRun(record.id, this.owner).catch(() => undefined);
        await runContainer.dispose();
      });
    this.active.set(record.id, { execution, done });
    return {
      id: record.id,
      events$: execution.log.replay$(),
      events,
      done,
      cancel: (reason?: string) => execution.cancel(reason),
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new CoreError('CORE_RUNTIME_CLOSED', 'The runtime is closed; create a new one.');
  }
}

/** Sortable by time, readable, unique: `20261121-051823-3fa9c1`. */
function newRunId(): string {
  const iso = new Date().toISOString();
  return `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}-${randomBytes(3).toString('hex')}`;
}
