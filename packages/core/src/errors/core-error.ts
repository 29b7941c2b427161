import { BeamlineError, isBeamlineError, type BeamlineErrorOptions } from './beamline-error.js';

/** Stable codes of the errors the core raises. */
export type CoreErrorCode =
  | 'CORE_PLUGIN_DUPLICATE'
  | 'CORE_PLUGIN_MISSING_DEPENDENCY'
  | 'CORE_PLUGIN_CYCLE'
  | 'CORE_DEPENDENCY_UNRESOLVED'
  | 'CORE_COMMAND_DUPLICATE'
  | 'CORE_COMMAND_UNKNOWN'
  | 'CORE_RUNNER_DUPLICATE'
  | 'CORE_RUNNER_UNKNOWN'
  | 'CORE_RUNNER_UNSUPPORTED'
  | 'CORE_SERVICE_DUPLICATE'
  | 'CORE_SERVICE_UNKNOWN'
  | 'CORE_PIPELINE_INVALID'
  | 'CORE_PARAMS_INVALID'
  | 'CORE_EXPRESSION_INVALID'
  | 'CORE_RESOURCES_UNSATISFIABLE'
  | 'CORE_RUN_NOT_FOUND'
  | 'CORE_RUN_ACTIVE'
  | 'CORE_RUN_FINISHED'
  | 'CORE_STEP_NOT_FOUND'
  | 'CORE_STEP_FAILED'
  | 'CORE_PROCESS_FAILED'
  | 'CORE_SPAWN_FAILED'
  | 'CORE_TIMEOUT'
  | 'CORE_CANCELLED'
  | 'CORE_OUTPUT_MISSING'
  | 'CORE_OUTPUT_UNREADABLE'
  | 'CORE_STORE_FAILED'
  | 'CORE_RUNTIME_CLOSED';

/** The error class of `@beamline/core`. */
export class CoreError extends BeamlineError {
  declare readonly code: CoreErrorCode;

  constructor(code: CoreErrorCode, message: string, options: BeamlineErrorOptions = {}) {
    super(code, message, options);
    this.name = 'CoreError';
  }
}

/** True for a core error, optionally with a given code. */
export function isCoreError(error: unknown, code?: CoreErrorCode): error is CoreError {
  return (
    isBeamlineError(error) &&
    error.name === 'CoreError' &&
    error.code.startsWith('CORE_') &&
    (code === undefined || error.code === code)
  );
}
