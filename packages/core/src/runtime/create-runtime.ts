import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Command } from '../contracts/command.js';
import type { PipelineDefinition, Plan } from '../contracts/pipeline.js';
import type { PluginRegistry } from '../contracts/plugin.js';
import type { Explanation, RunHandle, RunOptions, Runtime, RuntimeOptions } from '../contracts/runtime.js';
import type { Runner } from '../contracts/runner.js';
import type { Service } from '../contracts/service.js';
import type { RunOwner, RunRecord, RunState, Store } from '../contracts/store.js';
import { Container } from '../di/container.js';
import { createToken } from '../di/token.js';
import { Tokens } from '../di/tokens.js';
import { CoreError } from '../errors/core-error.js';
import { explainStep } from '../engine/explain-step.js';
import { RunExecution } from '../engine/run-execution.js';
import { toEmitter } from '../engine/to-emitter.js';
import { validateParams } from '../engine/validate-params.js';
import { listReferences } from '../pipeline/expressions.js';
import { loadPipelineFile } from '../pipeline/load-pipeline-file.js';
import { planPipeline } from '../pipeline/plan-pipeline.js';
import { resolveStepParams } from '../pipeline/resolve-step-params.js';
import { NamedRegistry } from '../registry/named-registry.js';
import { defaultCapacity } from '../resources/default-capacity.js';
import { ResourcePool } from '../resources/resource-pool.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { builtinCommands, builtinRunners } from './builtins.js';
import { orderPlugins } from './order-plugins.js';
import type { RuntimeConfig } from './runtime-config.js';

const RunExecutionToken = createToken<RunExecution>('beamline.RunExecution');

/**
 * Creates a runtime: an isolated DI container with the built-ins (`exec`, the `local` runner), the
 * given plugins registered in dependency order and started, and the store (a `SqliteStore` in
 * `<cwd>/.beamline/` by default).
 */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const plugins = orderPlugins(options.plugins ?? []);
  const store = options.store ?? SqliteStore.open({ cwd });
  const config: RuntimeConfig = {
    cwd,
    maxParallel: options.maxParallel ?? 64,
    cancelPollMs: options.cancelPollMs ?? 250,
    stopGraceMs: 30_000,
  };
  const container = Container.create();
  const commands = new NamedRegistry<Command<never>>('command', {
    duplicate: 'CORE_COMMAND_DUPLICATE',
    unknown: 'CORE_COMMAND_UNKNOWN',
  });
  const runners = new NamedRegistry<Runner>('runner', {
    duplicate: 'CORE_RUNNER_DUPLICATE',
    unknown: 'CORE_RUNNER_UNKNOWN',
  });
  const services = new NamedRegistry<Service>('service', {
    duplicate: 'CORE_SERVICE_DUPLICATE',
    unknown: 'CORE_SERVICE_UNKNOWN',
  });
  container.provide(Tokens.Store, store);
  container.provide(Tokens.Config, config);
  container.provide(Tokens.Commands, commands);
  container.provide(Tokens.Runners, runners);
  container.provide(Tokens.Services, services);
  container.provide(Tokens.ResourcePool, new ResourcePool(defaultCapacity(options.resources)));
  container.provideClass(RunExecutionToken, RunExecution, 'per-container');

  for (const command of builtinCommands()) commands.add(command);
  for (const runner of builtinRunners()) runners.add(runner);
  const registry: PluginRegistry = {
    addCommand: (command) => commands.add(command as Command<never>),
    addRunner: (runner) => runners.add(runner),
    addService: (service) => services.add(service),
    provide: (token, value) => container.provide(token, value),
    resolve: (token) => container.resolve(token),
    isProvided: (token) => container.isProvided(token),
    store,
  };
  for (const plugin of plugins) plugin.register(registry);

  const started: Array<{ stop?: () => Promise<void> }> = [];
  try {
    for (const plugin of plugins) {
      await plugin.start?.({ store, cwd });
      started.push(plugin);
    }
    for (const service of services.values()) {
      await service.start();
      started.push(service);
    }
  } catch (error) {
    await stopAll(started);
    await store.close();
    throw error;
  }
  return new BeamlineRuntime(container, store, config, commands, runners, started);
}

async function stopAll(started: ReadonlyArray<{ stop?: () => Promise<void> }>): Promise<void> {
  for (const item of [...started].reverse()) await item.stop?.().catch(() => undefined);
}

class BeamlineRuntime implements Runtime {
  private readonly active = new Map<string, { execution: RunExecution; done: Promise<unknown> }>();
  private readonly owner: RunOwner = { pid: process.pid, host: os.hostname() };
  private closed = false;

  constructor(
    private readonly container: Container,
    readonly store: Store,
    private readonly config: RuntimeConfig,
    private readonly commands: NamedRegistry<Command<never>>,
    private readonly runners: NamedRegistry<Runner>,
    private readonly started: ReadonlyArray<{ stop?: () => Promise<void> }>,
  ) {}

  get cwd(): string {
    return this.config.cwd;
  }

  get capacity() {
    return this.container.resolve(Tokens.ResourcePool).capacity;
  }

  command(name: string): Command<unknown> | undefined {
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
    await this.checkBeforeRunning(plan);
    const record: RunRecord = {
      id: newRunId(),
      pipeline: plan.pipeline,
      plan,
      params: plan.params,
      cwd: this.cwd,
      ...(options.source ? { source: options.source } : {}),
      createdAt: Date.now(),
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
    await this.store.close();
  }

  /** Rejects before anything runs: resources that can never be granted, parameters already known to be wrong. */
  private async checkBeforeRunning(plan: Plan): Promise<void> {
    const pool = this.container.resolve(Tokens.ResourcePool);
    for (const step of plan.steps) {
      pool.effective(step.resources, step.id);
      // Parameters that still hold `${{ steps.… }}` are checked when the step starts.
      if (listReferences(step.with).references.length === 0) {
        const params = resolveStepParams(step, () => undefined, plan);
        await validateParams(this.commands.require(step.uses), params, step.id);
      }
    }
  }

  private start(
    record: RunRecord,
    plan: Plan,
    resumeFrom: RunState | undefined,
    noCache: boolean,
  ): RunHandle {
    const runContainer = this.container.child();
    runContainer.provide(Tokens.RunContext, { record, plan, noCache, ...(resumeFrom ? { resumeFrom } : {}) });
    const execution = runContainer.resolve(RunExecutionToken);
    const events = toEmitter(execution.log.live$);
    const done = execution.run().finally(async () => {
      this.active.delete(record.id);
      await this.store.releaseRun(record.id, this.owner).catch(() => undefined);
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
