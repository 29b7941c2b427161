import { Command, type CommandUnknownOpts, type OutputConfiguration } from '@commander-js/extra-typings';
import type { CliCommand, CliContext } from './cli-command.js';
import type { CliIO } from './cli-io.js';
import { cliVersion } from './version.js';

const DESCRIPTION =
  'Runs scientific compute pipelines: steps in processes or containers, on CPUs or GPUs, with ' +
  'retries, a result cache and a durable record of every run (in ./.beamline/).';

const EPILOGUE = `
Exit codes: 0 success, 1 failed or cancelled run, 2 bad input.
Run 'beamline <command> --help' for a command's options.`;

/**
 * The `beamline` program as a commander tree: every subcommand is declared once (`commands`), and its
 * help and usage errors come from that declaration. Commander never exits the process: usage errors
 * and `--help` end in a `CommanderError` that `main` turns into an exit code.
 */
export function createProgram(context: CliContext, commands: readonly CliCommand[]): Command {
  // Settings made before the subcommands are declared are inherited by them.
  const program = new Command('beamline')
    .description(DESCRIPTION)
    .version(cliVersion(), '-v, --version', 'print the version')
    .helpOption('-h, --help', 'show this help')
    .helpCommand('help [command]', "show a command's help")
    // Program options only before the subcommand: `container build --version 1.2` is build's option.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput(outputTo(context.io))
    .addHelpText('after', EPILOGUE);
  for (const declare of commands) declare(program, context);
  nameUsageErrors(program, 'beamline');
  return program;
}

/** `beamline container run`: a command's name with those of its parents. */
export function commandPath(command: CommandUnknownOpts): string {
  const names: string[] = [];
  for (let current: CommandUnknownOpts | null = command; current; current = current.parent)
    names.unshift(current.name());
  return names.join(' ');
}

function outputTo(io: CliIO): OutputConfiguration {
  return {
    writeOut: (text) => io.stdout.write(text),
    writeErr: (text) => io.stderr.write(text),
    // Help is wrapped to the terminal it is shown on, and to 80 columns in a pipe or a file.
    getOutHelpWidth: () => (io.stdout.isTTY === true ? io.stdout.columns : undefined) ?? 80,
    getErrHelpWidth: () => (io.stderr.isTTY === true ? io.stderr.columns : undefined) ?? 80,
    getOutHasColors: () => false,
    getErrHasColors: () => false,
  };
}

/**
 * Usage errors name the command they are about and how to get its help:
 * `beamline run: missing required argument 'file'` / `(run 'beamline run --help' for usage)`.
 */
function nameUsageErrors(command: Command, path: string): void {
  command
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, `${path}: `)) })
    .showHelpAfterError(`(run '${path} --help' for usage)`);
  for (const sub of command.commands) nameUsageErrors(sub as Command, `${path} ${sub.name()}`);
}
