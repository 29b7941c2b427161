import type { CliCommand } from './cli-command.js';
import { containerCommand } from './container/container-command.js';
import { gridCommand } from './grid/grid-command.js';
import { serveCommand } from './serve/serve-command.js';

/**
 * The subcommand groups of the official plugins (`container`, `grid`, `serve`), listed after the run
 * commands.
 */
export const pluginCommands: readonly CliCommand[] = [containerCommand, gridCommand, serveCommand];
