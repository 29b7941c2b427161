import type { Command } from '../contracts/command.js';
import { createToken } from '../di/token.js';
import type { RunContext } from '../engine/run-context.js';
import type { RunEventLog } from '../engine/run-event-log.js';
import type { NamedRegistry } from '../registry/named-registry.js';

/** Tokens only the runtime and the engine use; not exported from the package. */
export const InternalTokens = {
  Commands: createToken<NamedRegistry<Command>>('beamline.internal.Commands'),
  /** Run-scoped (a run's child container): the run being executed. */
  RunContext: createToken<RunContext>('beamline.internal.RunContext'),
  /** Run-scoped: the run's event log, the sink of its events. */
  RunEventLog: createToken<RunEventLog>('beamline.internal.RunEventLog'),
} as const;
