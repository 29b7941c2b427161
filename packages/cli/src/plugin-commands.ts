import type { CliCommand } from './cli-command.js';

/** The subcommand groups the official plugins add (`container`, `grid`), after the run commands. */
export function pluginCommands(): CliCommand[] {
  return [];
}
