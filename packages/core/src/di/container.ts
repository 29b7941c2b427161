import { container as tsyringeRoot, Lifecycle, type DependencyContainer } from './tsyringe.js';
import type { InjectableClass } from '../contracts/plugin.js';
import { isBeamlineError } from '../errors/beamline-error.js';
import { CoreError } from '../errors/core-error.js';
import type { Token } from './token.js';

/** tsyringe's view of a class (its `constructor<T>`, which takes any arguments). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type TsyringeClass<T> = new (...args: any[]) => T;

/**
 * The only door to tsyringe (internal: applications and plugins go through `PluginRegistry` and
 * `Runtime.resolve`). Every container is a child of tsyringe's root, which nothing ever registers in,
 * so two runtimes (or two test files) never share registrations.
 *
 * A class is built at most once per container tree, however it is reached: `construct(C)` and every
 * `provideClass(token, C)` share one instance, so a runner that is also provided under a plugin's
 * token is one object.
 */
export class Container {
  private constructor(private readonly inner: DependencyContainer) {}

  /** A fresh, isolated container. */
  static create(): Container {
    return new Container(tsyringeRoot.createChildContainer());
  }

  provide<T>(token: Token<T>, value: T): void {
    this.inner.registerInstance<T>(token, value);
  }

  /** `token` resolves to the one instance of `implementation`, built on first use. */
  provideClass<T>(token: Token<T>, implementation: InjectableClass<T>): void {
    this.registerClass(implementation);
    this.inner.register<T>(
      token,
      { useToken: implementation as TsyringeClass<T> },
      { lifecycle: Lifecycle.Singleton },
    );
  }

  /** The one instance of a class, built now if it was not yet. */
  construct<T>(implementation: InjectableClass<T>): T {
    this.registerClass(implementation);
    return this.inner.resolve<T>(implementation as TsyringeClass<T>);
  }

  /**
   * A class for each resolution (a run's `RunExecution` in the run's child container): its instance lives
   * as long as the container that resolved it.
   */
  providePerContainer<T>(token: Token<T>, implementation: InjectableClass<T>): void {
    this.inner.register<T>(
      token,
      { useClass: implementation as TsyringeClass<T> },
      { lifecycle: Lifecycle.ContainerScoped },
    );
  }

  resolve<T>(token: Token<T>): T {
    return this.inner.resolve<T>(token);
  }

  /** A child for run-scoped services: it sees its parent's registrations, the parent never sees its own. */
  child(): Container {
    return new Container(this.inner.createChildContainer());
  }

  /** Disposes what this container built (instances with a `dispose()` method). */
  async dispose(): Promise<void> {
    await this.inner.dispose();
  }

  private registerClass<T>(implementation: InjectableClass<T>): void {
    const asClass = implementation as TsyringeClass<T>;
    if (!this.inner.isRegistered(asClass, true)) {
      this.inner.register<T>(asClass, { useClass: asClass }, { lifecycle: Lifecycle.Singleton });
    }
  }
}

/**
 * Runs a resolution and turns tsyringe's errors ("Cannot inject the dependency … Attempted to resolve
 * unregistered dependency token") into `CORE_DEPENDENCY_UNRESOLVED`, naming what was being built and
 * for whom.
 */
export function resolving<T>(what: string, owner: string, resolve: () => T): T {
  try {
    return resolve();
  } catch (error) {
    // A constructor's own coded error (a bad option) says more than any wrapper.
    if (isBeamlineError(error)) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new CoreError(
      'CORE_DEPENDENCY_UNRESOLVED',
      `${owner}: cannot build ${what}: ${reason}. Every constructor parameter needs @inject(Token) with a ` +
        `token some plugin provides (is the providing plugin listed, and named in "dependencies"?).`,
      { cause: error, details: { what, owner } },
    );
  }
}
