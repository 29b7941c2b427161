export { ExitCode, type CliCommand, type CliIO } from './cli-command.js';
export { CliError, isCliError, type CliErrorCode } from './cli-error.js';
export { defaultPlugins } from './default-plugins.js';
export { main, type MainOptions } from './main.js';
