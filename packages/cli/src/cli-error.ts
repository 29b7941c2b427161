import { BeamlineError, isBeamlineError, type BeamlineErrorOptions } from '@beamline/core';
import { ExitCode } from './cli-io.js';

/** Stable codes of the errors the `beamline` program raises itself. */
export type CliErrorCode =
  /** Unknown flag, missing or extra argument. */
  | 'CLI_USAGE'
  /** An argument names something that does not exist (a file, a run, a step). */
  | 'CLI_NOT_FOUND';

/** The error class of the `beamline` program; every code is bad input (exit 2). */
export class CliError extends BeamlineError {
  declare readonly code: CliErrorCode;

  constructor(code: CliErrorCode, message: string, options: BeamlineErrorOptions = {}) {
    super(code, message, options);
    this.name = 'CliError';
  }
}

/** True for a CLI error, optionally with a given code. */
export function isCliError(error: unknown, code?: CliErrorCode): error is CliError {
  return (
    isBeamlineError(error) &&
    error.name === 'CliError' &&
    error.code.startsWith('CLI_') &&
    (code === undefined || error.code === code)
  );
}

/**
 * Errors of core and the plugins that mean the request itself was wrong (a pipeline that does not
 * validate, a run or step that does not exist, an image reference without a tag, a file list that does
 * not parse), as opposed to work that failed: exit 2, not 1.
 */
const BAD_INPUT_CODES = new Set([
  'CORE_PIPELINE_INVALID',
  'CORE_PARAMS_INVALID',
  'CORE_EXPRESSION_INVALID',
  'CORE_COMMAND_UNKNOWN',
  'CORE_RUNNER_UNKNOWN',
  'CORE_RUNNER_UNSUPPORTED',
  'CORE_RESOURCES_UNSATISFIABLE',
  'CORE_RUN_NOT_FOUND',
  'CORE_STEP_NOT_FOUND',
  'CORE_RUN_FINISHED',
  'CORE_RUN_ACTIVE',
  'DOCKER_SPEC_INVALID',
  'DOCKER_IMAGE_REF_INVALID',
  'DOCKER_MOUNT_SOURCE_MISSING',
  'DOCKER_NO_COMMAND',
  'DOCKER_NAME_CONFLICT',
  'GRID_INPUT_INVALID',
  'GRID_DEST_INVALID',
  'WEBDAV_CONFIG_INVALID',
  'WEBDAV_CONFIG_UNREADABLE',
]);

/** The exit code for an error that ended a subcommand. */
export function exitCodeForError(error: unknown): ExitCode {
  if (isCliError(error)) return ExitCode.badInput;
  if (isBeamlineError(error) && BAD_INPUT_CODES.has(error.code)) return ExitCode.badInput;
  return ExitCode.failed;
}

/**
 * The message printed for an error that ended a subcommand: the command, then the message (core and
 * plugin messages name the file, the path in it and what was expected), then the code.
 */
export function describeError(error: unknown, command: string, debug: boolean): string {
  const prefix = command === '' ? '' : `${command}: `;
  if (!(error instanceof Error)) return `${prefix}${String(error)}`;
  if (debug && error.stack) return `${prefix}${error.stack}`;
  // Usage errors are the program's own words; for the others the code helps searching issues and docs.
  if (isCliError(error) || !isBeamlineError(error)) return `${prefix}${error.message}`;
  return `${prefix}${error.message} (${error.code})`;
}
