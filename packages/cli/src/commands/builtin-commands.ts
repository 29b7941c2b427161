import type { CliCommand } from '../cli-command.js';
import { cancelCommand } from './cancel-command.js';
import { explainCommand } from './explain-command.js';
import { gatewayCommand } from './gateway-command.js';
import { gcCommand } from './gc-command.js';
import { logsCommand } from './logs-command.js';
import { resumeCommand } from './resume-command.js';
import { runCommand } from './run-command.js';
import { runsCommand } from './runs-command.js';
import { showCommand } from './show-command.js';
import { workerCommand } from './worker-command.js';

/** The run-related subcommands, in the order `--help` lists them. */
export const builtinCommands: readonly CliCommand[] = [
  runCommand,
  resumeCommand,
  runsCommand,
  showCommand,
  logsCommand,
  explainCommand,
  cancelCommand,
  gcCommand,
  workerCommand,
  gatewayCommand,
];
