import type { Command } from '../contracts/command.js';
import type { InjectableClass, PluginRegistry } from '../contracts/plugin.js';
import type { Runner, RunnerLookup } from '../contracts/runner.js';
import type { Service } from '../contracts/service.js';
import { resolving, type Container } from '../di/container.js';
import type { Token } from '../di/token.js';
import { CoreError } from '../errors/core-error.js';
import { NamedRegistry } from '../registry/named-registry.js';

interface Deferred<T> {
  readonly owner: string;
  readonly implementation: InjectableClass<T>;
}

/**
 * Where plugins register: commands, runners and services by name, values and classes under tokens. Classes
 * wait in queues until every plugin has registered, then `buildAll` has the container construct them.
 */
export class PluginHost {
  readonly commands = new NamedRegistry<Command>('command', {
    duplicate: 'CORE_COMMAND_DUPLICATE',
    unknown: 'CORE_COMMAND_UNKNOWN',
  });
  readonly runners = new NamedRegistry<Runner>('runner', {
    duplicate: 'CORE_RUNNER_DUPLICATE',
    unknown: 'CORE_RUNNER_UNKNOWN',
  });
  readonly services = new NamedRegistry<Service>('service', {
    duplicate: 'CORE_SERVICE_DUPLICATE',
    unknown: 'CORE_SERVICE_UNKNOWN',
  });
  private readonly queues = {
    runners: [] as Array<Deferred<Runner>>,
    services: [] as Array<Deferred<Service>>,
    commands: [] as Array<Deferred<Command>>,
    tokens: [] as Array<{ owner: string; token: Token<unknown> }>,
  };

  /** The plugin that places runners (`PluginRegistry.placeRunners`), and how. */
  private placement: { owner: string; place: (runner: Runner) => Runner } | undefined;
  private readonly placed = new WeakMap<Runner, Runner>();

  constructor(private readonly container: Container) {}

  /**
   * A read-only view of the runners, for `Tokens.Runners`: each one as a plugin placed it, when one
   * does (`PluginRegistry.placeRunners`).
   */
  runnerLookup(): RunnerLookup {
    const runners = this.runners;
    const place = (runner: Runner | undefined): Runner | undefined => {
      if (runner === undefined || this.placement === undefined) return runner;
      let placed = this.placed.get(runner);
      if (placed === undefined) {
        placed = this.placement.place(runner);
        this.placed.set(runner, placed);
      }
      return placed;
    };
    return {
      get: (name) => place(runners.get(name)),
      require: (name) => place(runners.require(name))!,
      has: (name) => runners.has(name),
      names: () => runners.names(),
    };
  }

  /** The registry one plugin (`owner`) registers through; its name appears in every error. */
  registryFor(owner: string): PluginRegistry {
    return {
      addCommand: (command) => this.add(this.commands, this.queues.commands, command, owner),
      addRunner: (runner) => this.add(this.runners, this.queues.runners, runner, owner),
      addService: (service) => this.add(this.services, this.queues.services, service, owner),
      placeRunners: (place) => {
        if (this.placement !== undefined) {
          throw new CoreError(
            'CORE_PLUGIN_DUPLICATE',
            `Plugin "${owner}" places runners, but plugin "${this.placement.owner}" already does: only one plugin may place a runtime's runners.`,
            { details: { plugin: owner, placedBy: this.placement.owner } },
          );
        }
        this.placement = { owner, place };
      },
      provide: (token, value) => this.container.provide(token, value),
      provideClass: (token, implementation) => {
        this.container.provideClass(token, implementation);
        this.queues.tokens.push({ owner, token });
      },
      resolve: (token) =>
        resolving(describe(token), `Plugin "${owner}"`, () => this.container.resolve(token)),
    };
  }

  /**
   * Builds the registered classes: runners, services, commands, then the classes provided under tokens,
   * each in registration order. All are built now, in the runtime's container, so that none is first
   * built (and later disposed) inside a run's child container.
   */
  buildAll(): void {
    this.build(this.runners, this.queues.runners, 'runner');
    this.build(this.services, this.queues.services, 'service');
    this.build(this.commands, this.queues.commands, 'command');
    for (const { owner, token } of this.queues.tokens.splice(0)) {
      resolving(describe(token), `Plugin "${owner}"`, () => this.container.resolve(token));
    }
  }

  private add<T extends { readonly name: string }>(
    registry: NamedRegistry<T>,
    queue: Array<Deferred<T>>,
    entry: T | InjectableClass<T>,
    owner: string,
  ): void {
    if (typeof entry === 'function') queue.push({ owner, implementation: entry });
    else registry.add(entry, owner);
  }

  private build<T extends { readonly name: string }>(
    registry: NamedRegistry<T>,
    queue: Array<Deferred<T>>,
    kind: string,
  ): void {
    for (const { owner, implementation } of queue.splice(0)) {
      const item = resolving(`${kind} class ${implementation.name}`, `Plugin "${owner}"`, () =>
        this.container.construct(implementation),
      );
      registry.add(item, owner);
    }
  }
}

function describe(token: Token<unknown>): string {
  return `token ${token.description ?? String(token)}`;
}
