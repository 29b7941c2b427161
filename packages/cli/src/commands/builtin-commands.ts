import type { CliCommand } from '../cli-command.js';
import type { CliServices } from '../cli-services.js';
import { createCancelCommand } from './cancel-command.js';
import { createExplainCommand } from './explain-command.js';
import { createLogsCommand } from './logs-command.js';
import { createResumeCommand } from './resume-command.js';
import { createRunCommand } from './run-command.js';
import { createRunsCommand } from './runs-command.js';
import { createShowCommand } from './show-command.js';

/** The run-related subcommands, in the order `--help` lists them. */
export function builtinCommands(services: CliServices): CliCommand[] {
  return [
    createRunCommand(services),
    createResumeCommand(services),
    createRunsCommand(services),
    createShowCommand(services),
    createLogsCommand(services),
    createExplainCommand(services),
    createCancelCommand(services),
  ];
}
