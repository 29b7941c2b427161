import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { of, type Observable } from 'rxjs';
import { inject, injectable } from '../di/tsyringe.js';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineCommand, type Command, type CommandContext, type StepEvent } from '../contracts/command.js';
import type { Plugin } from '../contracts/plugin.js';
import type { ProcessEvent, Runner, RunnerLookup } from '../contracts/runner.js';
import type { Clock, EventSink, Runtime, RuntimeConfig, RuntimeEvent } from '../contracts/runtime.js';
import type { Store } from '../contracts/store.js';
import { createToken } from '../di/token.js';
import { Tokens } from '../di/tokens.js';
import { isCoreError } from '../errors/core-error.js';
import type { ResourcePool } from '../resources/resource-pool.js';
import { MemoryStore } from '../store/memory-store.js';
import { createRuntime } from './create-runtime.js';

const runtimes: Runtime[] = [];
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((runtime) => runtime.close()));
});

async function runtimeWith(plugins: Plugin[], clock?: Clock): Promise<Runtime> {
  const runtime = await createRuntime({
    store: new MemoryStore(),
    cwd: mkdtempSync(path.join(os.tmpdir(), 'beamline-di-')),
    plugins,
    ...(clock ? { clock } : {}),
  });
  runtimes.push(runtime);
  return runtime;
}

// Plugin "units": a service other plugins use. Plugin "report": a command built around that service.

interface UnitTable {
  toMetres(value: number, unit: string): number;
}
const UnitTableToken = createToken<UnitTable>('test.units.table');

@injectable()
class MetricUnits implements UnitTable {
  readonly builtFor: string;
  private readonly factors: Record<string, number> = { m: 1, km: 1000, mm: 0.001 };

  constructor(@inject(Tokens.Config) config: RuntimeConfig) {
    this.builtFor = config.cwd;
  }

  toMetres(value: number, unit: string): number {
    const factor = this.factors[unit];
    if (factor === undefined) throw new Error(`unknown unit ${unit}`);
    return value * factor;
  }
}

const unitsPlugin: Plugin = {
  name: 'units',
  register: (registry) => registry.provideClass(UnitTableToken, MetricUnits),
};

const reportParams = z.object({ value: z.number(), unit: z.string() });

@injectable()
class ReportCommand implements Command<z.output<typeof reportParams>> {
  readonly name = 'report.metres';
  readonly version = '1';
  readonly params = reportParams;

  constructor(@inject(UnitTableToken) readonly units: UnitTable) {}

  runnerIdentity(): null {
    return null;
  }

  execute(_ctx: CommandContext, p: z.output<typeof reportParams>): Observable<StepEvent> {
    return of({ type: 'outputs', outputs: { metres: this.units.toMetres(p.value, p.unit) } });
  }
}

const reportPlugin = (dependencies: string[] = ['units']): Plugin => ({
  name: 'report',
  dependencies,
  register: (registry) => registry.addCommand(ReportCommand),
});

describe('dependency injection', () => {
  it("builds a plugin's command around the service of the plugin it depends on", async () => {
    const runtime = await runtimeWith([reportPlugin(), unitsPlugin]);
    const handle = await runtime.run({
      name: 'di',
      steps: { a: { uses: 'report.metres', with: { value: 2.5, unit: 'km' } } },
    });
    const result = await handle.done;
    expect(result.status).toBe('succeeded');
    expect(result.steps.a?.outputs).toEqual({ metres: 2500 });
    const table = runtime.resolve(UnitTableToken);
    expect((runtime.command('report.metres') as ReportCommand).units).toBe(table);
    expect((table as MetricUnits).builtFor).toBe(runtime.cwd);
  });

  it('builds classes after every plugin registered, so plugin order does not matter', async () => {
    // No `dependencies`: "report" registers first, its command is still built with the table.
    const runtime = await runtimeWith([reportPlugin([]), unitsPlugin]);
    expect((runtime.command('report.metres') as ReportCommand).units).toBe(runtime.resolve(UnitTableToken));
  });

  it('names the plugin, the class and the token when a dependency is not provided', async () => {
    const error = await runtimeWith([reportPlugin([])]).catch((e: unknown) => e);
    expect(isCoreError(error, 'CORE_DEPENDENCY_UNRESOLVED')).toBe(true);
    expect((error as Error).message).toContain('Plugin "report"');
    expect((error as Error).message).toContain('ReportCommand');
    expect((error as Error).message).toContain('test.units.table');
    const declared = await runtimeWith([reportPlugin(['units'])]).catch((e: unknown) => e);
    expect(isCoreError(declared, 'CORE_PLUGIN_MISSING_DEPENDENCY')).toBe(true);
  });

  it('refuses a class whose constructor parameters are not injected', async () => {
    class Undecorated implements Runner {
      readonly name = 'undecorated';
      constructor(readonly label: string) {}
      identity = (): Promise<string> => Promise.resolve('x');
      exec = (): Observable<ProcessEvent> => of();
    }
    const error = await runtimeWith([
      { name: 'bad', register: (registry) => registry.addRunner(Undecorated) },
    ]).catch((e: unknown) => e);
    expect(isCoreError(error, 'CORE_DEPENDENCY_UNRESOLVED')).toBe(true);
    expect((error as Error).message).toContain('Undecorated');
  });

  it('builds a class once however it is reached', async () => {
    const CountingRunnerToken = createToken<CountingRunner>('test.counting.runner');
    let built = 0;
    @injectable()
    class CountingRunner implements Runner {
      readonly name = 'counting';
      constructor() {
        built++;
      }
      identity = (): Promise<string> => Promise.resolve('counting');
      exec = (): Observable<ProcessEvent> => of();
    }
    const runtime = await runtimeWith([
      {
        name: 'counting',
        register: (registry) => {
          registry.provideClass(CountingRunnerToken, CountingRunner);
          registry.addRunner(CountingRunner);
        },
      },
    ]);
    expect(built).toBe(1);
    expect(runtime.runner('counting')).toBe(runtime.resolve(CountingRunnerToken));
  });

  it("injects the core's services by token", async () => {
    const ProbeToken = createToken<CoreProbe>('test.core.probe');
    @injectable()
    class CoreProbe {
      constructor(
        @inject(Tokens.Store) readonly store: Store,
        @inject(Tokens.ResourcePool) readonly pool: ResourcePool,
        @inject(Tokens.Config) readonly config: RuntimeConfig,
        @inject(Tokens.Clock) readonly clock: Clock,
        @inject(Tokens.Events) readonly events: EventSink,
        @inject(Tokens.Runners) readonly runners: RunnerLookup,
      ) {}
    }
    const clock: Clock = { now: () => 1_000_000 };
    const runtime = await runtimeWith(
      [{ name: 'probe', register: (registry) => registry.provideClass(ProbeToken, CoreProbe) }],
      clock,
    );
    const probe = runtime.resolve(ProbeToken);
    expect(probe.store).toBe(runtime.store);
    expect(probe.pool.capacity).toEqual(runtime.capacity);
    expect(probe.config.cwd).toBe(runtime.cwd);
    expect(Object.isFrozen(probe.config)).toBe(true);
    expect(probe.clock).toBe(clock);
    expect(probe.runners.names()).toEqual(['local']);
    expect(probe.runners.require('local')).toBe(runtime.runner('local'));
    // Read-only: the lookup cannot be used to register runners behind the runtime's back.
    expect('add' in probe.runners).toBe(false);

    const heard: RuntimeEvent[] = [];
    runtime.events.on('warning', (event) => heard.push(event));
    probe.events.emit({
      level: 'warning',
      source: 'probe',
      message: 'disk nearly full',
      details: { free: 1 },
    });
    probe.events.emit({ level: 'info', source: 'probe', message: 'fine' });
    expect(heard).toEqual([
      {
        level: 'warning',
        source: 'probe',
        message: 'disk nearly full',
        details: { free: 1 },
        time: 1_000_000,
      },
    ]);
  });

  it('replays recent events to a late subscriber of events$ and completes it on close', async () => {
    const runtime = await runtimeWith([
      {
        name: 'noisy',
        register: () => undefined,
        start: (context) => {
          context.events.emit({ level: 'info', source: 'noisy', message: 'started' });
          return Promise.resolve();
        },
      },
    ]);
    const seen: string[] = [];
    let completed = false;
    runtime.events$.subscribe({ next: (e) => seen.push(e.message), complete: () => (completed = true) });
    expect(seen).toEqual(['started']);
    await runtime.close();
    expect(completed).toBe(true);
  });

  it("stamps run events with the runtime's clock", async () => {
    let now = 5_000;
    const clock: Clock = { now: () => (now += 10) };
    const tick = defineCommand({
      name: 'test.tick',
      version: '1',
      params: z.object({}),
      runnerIdentity: () => null,
      execute: () => of<StepEvent>({ type: 'outputs', outputs: {} }),
    });
    const runtime = await runtimeWith(
      [{ name: 'tick', register: (registry) => registry.addCommand(tick) }],
      clock,
    );
    const handle = await runtime.run({ name: 'clock', steps: { a: { uses: 'test.tick' } } });
    const events: Array<{ type: string; time: number }> = [];
    handle.events.on('event', (e) => events.push(e));
    const result = await handle.done;
    expect(result.durationMs).toBeGreaterThan(0);
    expect(result.durationMs % 10).toBe(0);
    expect(events.every((e) => e.time > 5_000 && e.time % 10 === 0)).toBe(true);
  });

  it('says which token is missing when an application resolves one nobody provides', async () => {
    const runtime = await runtimeWith([]);
    const error = (() => {
      try {
        runtime.resolve(createToken<string>('test.nobody'));
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(isCoreError(error, 'CORE_DEPENDENCY_UNRESOLVED')).toBe(true);
    expect((error as Error).message).toContain('test.nobody');
  });
});
