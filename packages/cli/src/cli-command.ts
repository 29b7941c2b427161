import type { Command } from '@commander-js/extra-typings';
import type { CliIO, ExitCode } from './cli-io.js';
import type { CliServices } from './cli-services.js';

/** What a subcommand's action has at hand. */
export interface CliContext {
  readonly io: CliIO;
  readonly services: CliServices;
  /** Sets the program's exit code: the outcome of the action. */
  readonly exit: (code: ExitCode) => void;
}

/**
 * A subcommand, or a group of them (`container`, `grid`), declared once on commander: its arguments,
 * options, descriptions and action. `--help`, the command list and usage errors (unknown option,
 * missing argument) are generated from the declaration. An action reports its outcome with
 * `context.exit`; an error it throws is printed and mapped to an exit code by `main`.
 */
export type CliCommand = (program: Command, context: CliContext) => void;
