import type { Command } from './command.js';
import type { Runner } from './runner.js';
import type { Service } from './service.js';
import type { Store } from './store.js';
import type { Token } from '../di/token.js';

/** What a plugin's `register` may do. Users never touch the container itself. */
export interface PluginRegistry {
  /** Adds a command under its name; a second command of the same name is `CORE_COMMAND_DUPLICATE`. */
  addCommand<Params>(command: Command<Params>): void;
  /** Adds a runner under its name; `CORE_RUNNER_DUPLICATE` for a second one. */
  addRunner(runner: Runner): void;
  /** Adds a service the runtime starts and stops. */
  addService(service: Service): void;
  /** Registers a value under a plugin's own token, for other plugins to resolve. */
  provide<T>(token: Token<T>, value: T): void;
  resolve<T>(token: Token<T>): T;
  isProvided(token: Token<unknown>): boolean;
  /** The runtime's store. */
  readonly store: Store;
}

/** Context of the `start` hook. */
export interface PluginStartContext {
  readonly store: Store;
  /** The runtime's working directory. */
  readonly cwd: string;
}

/**
 * A plugin, as returned by a `createXPlugin(options)` factory: registration is synchronous and in
 * dependency order; `start` runs after every plugin registered (async set-up goes there), `stop` in
 * reverse order when the runtime closes.
 */
export interface Plugin {
  readonly name: string;
  /** Names of plugins that must be present (and register first). */
  readonly dependencies?: readonly string[];
  register(registry: PluginRegistry): void;
  start?(context: PluginStartContext): Promise<void>;
  stop?(): Promise<void>;
}
