import type { Command } from '../contracts/command.js';
import type { Runner } from '../contracts/runner.js';
import type { Service } from '../contracts/service.js';
import type { Store } from '../contracts/store.js';
import type { NamedRegistry } from '../registry/named-registry.js';
import type { ResourcePool } from '../resources/resource-pool.js';
import type { RuntimeConfig } from '../runtime/runtime-config.js';
import type { RunContext } from '../engine/run-context.js';
import { createToken } from './token.js';

/** The core's DI tokens. Plugins define their own in their own `tokens.ts`. */
export const Tokens = {
  Store: createToken<Store>('beamline.Store'),
  Commands: createToken<NamedRegistry<Command<never>>>('beamline.Commands'),
  Runners: createToken<NamedRegistry<Runner>>('beamline.Runners'),
  Services: createToken<NamedRegistry<Service>>('beamline.Services'),
  ResourcePool: createToken<ResourcePool>('beamline.ResourcePool'),
  Config: createToken<RuntimeConfig>('beamline.Config'),
  /** Run-scoped: the run being executed (only in a run's child container). */
  RunContext: createToken<RunContext>('beamline.RunContext'),
} as const;
