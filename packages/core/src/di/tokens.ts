import type { RunnerLookup } from '../contracts/runner.js';
import type { Clock, EventSink, RuntimeConfig } from '../contracts/runtime.js';
import type { Store } from '../contracts/store.js';
import type { ResourcePool } from '../resources/resource-pool.js';
import { createToken } from './token.js';

/**
 * The core's DI tokens: what a class the runtime builds may ask for with `@inject(Tokens.X)`. Plugins
 * define their own in their own `tokens.ts`.
 */
export const Tokens = {
  /** The runtime's store. */
  Store: createToken<Store>('beamline.Store'),
  /** The resource pool (CPUs, memory, GPU ids) steps are granted from. */
  ResourcePool: createToken<ResourcePool>('beamline.ResourcePool'),
  /** Runtime-wide settings (working directory, parallelism, …), read-only. */
  Config: createToken<RuntimeConfig>('beamline.Config'),
  /** Where the runtime reads the time. */
  Clock: createToken<Clock>('beamline.Clock'),
  /** The runtime event sink for warnings and diagnostics (`Runtime.events$`). */
  Events: createToken<EventSink>('beamline.Events'),
  /** The registered runners by name, read-only; complete once the runtime is created. */
  Runners: createToken<RunnerLookup>('beamline.Runners'),
} as const;
