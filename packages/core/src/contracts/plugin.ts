import type { Command } from './command.js';
import type { Runner } from './runner.js';
import type { EventSink } from './runtime.js';
import type { Service } from './service.js';
import type { Store } from './store.js';
import type { Token } from '../di/token.js';

/**
 * A class the runtime's container builds: decorated `@injectable()`, every constructor parameter
 * `@inject(Token)` (decorator metadata is off, so nothing is injected by type).
 */
export type InjectableClass<T> = new (...args: never[]) => T;

/**
 * What a plugin's `register` may do. Users never touch the container itself.
 *
 * Commands, runners, services and provided classes may be given as instances or as injectable classes.
 * Classes are built by the runtime's container after every plugin has registered (in registration
 * order: runners, services, commands, then provided classes), so a constructor may inject anything a
 * plugin provides, whatever the plugin order; only `dependencies` make another plugin's token certain to
 * be there. A class is built once per runtime, however it is reached: `addRunner(DockerRunner)` and
 * `provideClass(DockerRunnerToken, DockerRunner)` give one runner.
 */
export interface PluginRegistry {
  /** Adds a command under its name; a second command of the same name is `CORE_COMMAND_DUPLICATE`. */
  addCommand(command: Command | InjectableClass<Command>): void;
  /** Adds a runner under its name; `CORE_RUNNER_DUPLICATE` for a second one. */
  addRunner(runner: Runner | InjectableClass<Runner>): void;
  /** Adds a service the runtime starts (after the plugins' `start`) and stops when it closes. */
  addService(service: Service | InjectableClass<Service>): void;
  /** Registers a value under a token (usually one of the plugin's own, from its `tokens.ts`). */
  provide<T>(token: Token<T>, value: T): void;
  /** Registers a class under a token: the container builds its one instance after registration. */
  provideClass<T>(token: Token<T>, implementation: InjectableClass<T>): void;
  /**
   * Places the work of every step elsewhere: the engine uses `place(runner)` instead of the runner a step
   * names (a distributed queue returns a runner that hands the work to a worker on another host, which
   * runs it with the named runner there). `place` is called once per runner. At most one plugin of a
   * runtime may place runners (`CORE_PLUGIN_DUPLICATE` for a second).
   */
  placeRunners(place: (runner: Runner) => Runner): void;
  /**
   * What a token resolves to now. Prefer `@inject` in a class: registration is not over yet, so this sees
   * only what the core and the plugins registered so far (dependencies register first).
   */
  resolve<T>(token: Token<T>): T;
}

/** Context of the `start` hook: everything is registered and built. */
export interface PluginStartContext {
  readonly store: Store;
  /** The runtime's working directory. */
  readonly cwd: string;
  /** The runtime event sink (`Tokens.Events`), for reports and warnings. */
  readonly events: EventSink;
  /** A core token or one a plugin provides (`context.resolve(DockerRunnerToken)`). */
  resolve<T>(token: Token<T>): T;
}

/**
 * A plugin, as returned by a `createXPlugin(options)` factory: registration is synchronous and in
 * dependency order; `start` runs after every plugin registered and every class was built (async set-up
 * goes there), `stop` in reverse order when the runtime closes.
 */
export interface Plugin {
  readonly name: string;
  /**
   * Names of plugins that must be present (they register and start first). Name every plugin whose
   * tokens this one's classes inject: a missing one is then `CORE_PLUGIN_MISSING_DEPENDENCY` up front
   * instead of a failure to build a class.
   */
  readonly dependencies?: readonly string[];
  register(registry: PluginRegistry): void;
  start?(context: PluginStartContext): Promise<void>;
  stop?(): Promise<void>;
}
