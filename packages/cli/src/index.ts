export type { CliCommand, CliContext } from './cli-command.js';
export { ExitCode, type CliIO } from './cli-io.js';
export { CliError, isCliError, type CliErrorCode } from './cli-error.js';
export type { CliServices } from './cli-services.js';
export { defaultPlugins } from './default-plugins.js';
export { main, type MainOptions } from './main.js';
