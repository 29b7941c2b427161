import { container as tsyringeRoot, Lifecycle, type DependencyContainer } from 'tsyringe';
import type { Token } from './token.js';

/** A class whose constructor parameters are all `@inject(Token)`-decorated. */
export type Injectable<T> = new (...args: never[]) => T;

/** How long a class registration's instance lives. */
export type Scope = 'singleton' | 'per-container' | 'transient';

const LIFECYCLE: Record<Scope, Lifecycle> = {
  singleton: Lifecycle.Singleton,
  'per-container': Lifecycle.ContainerScoped,
  transient: Lifecycle.Transient,
};

/**
 * The only door to tsyringe. Every container is a child of tsyringe's root that nothing ever registers
 * in, so two runtimes (or two test files) never share registrations.
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

  provideClass<T>(token: Token<T>, implementation: Injectable<T>, scope: Scope = 'singleton'): void {
    this.inner.register<T>(token, { useClass: implementation as never }, { lifecycle: LIFECYCLE[scope] });
  }

  resolve<T>(token: Token<T>): T {
    return this.inner.resolve<T>(token);
  }

  isProvided(token: Token<unknown>): boolean {
    return this.inner.isRegistered(token, true);
  }

  /** A child for run-scoped services: it sees its parent's registrations, the parent never sees its own. */
  child(): Container {
    return new Container(this.inner.createChildContainer());
  }

  async dispose(): Promise<void> {
    await this.inner.dispose();
  }
}
