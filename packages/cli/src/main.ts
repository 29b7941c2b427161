import { ExitCode, type CliCommand, type CliIO } from './cli-command.js';
import { CliError, describeError, exitCodeForError } from './cli-error.js';
import { defaultCliServices, type CliServices } from './cli-services.js';
import { builtinCommands } from './commands/builtin-commands.js';
import { pluginCommands } from './plugin-commands.js';
import { cliVersion } from './version.js';

/** What `main` can be given instead of the real services and command set (tests). */
export interface MainOptions {
  services?: CliServices;
  /** Replaces the command list. */
  commands?: readonly CliCommand[];
}

/**
 * The `beamline` program without the process around it: parses `argv` (the words after the program
 * name), runs the subcommand and returns the exit code. It never calls `process.exit`; errors are
 * printed to `io.stderr` (with a stack trace when `BEAMLINE_DEBUG` is set).
 */
export async function main(argv: readonly string[], io: CliIO, options: MainOptions = {}): Promise<ExitCode> {
  const services = options.services ?? defaultCliServices;
  const commands = options.commands ?? [...builtinCommands(services), ...pluginCommands()];
  const [first, ...rest] = argv;
  try {
    if (first === undefined) {
      io.stderr.write(helpText(commands));
      return ExitCode.badInput;
    }
    if (first === '--help' || first === '-h') {
      io.stdout.write(helpText(commands));
      return ExitCode.ok;
    }
    if (first === '--version' || first === '-v') {
      io.stdout.write(`${cliVersion()}\n`);
      return ExitCode.ok;
    }
    if (first === 'help') return showCommandHelp(rest[0], commands, io);
    const command = commands.find((candidate) => candidate.name === first);
    if (!command) {
      throw new CliError(
        'CLI_USAGE',
        first.startsWith('-')
          ? `beamline: unknown option '${first}'. Run 'beamline --help' for the commands.`
          : `beamline: unknown command '${first}'. Run 'beamline --help' for the commands.`,
      );
    }
    if (rest[0] === '--help' || rest[0] === '-h') {
      io.stdout.write(withNewline(command.usage));
      return ExitCode.ok;
    }
    return await command.run(rest, io);
  } catch (error) {
    io.stderr.write(withNewline(describeError(error, Boolean(io.env.BEAMLINE_DEBUG))));
    return exitCodeForError(error);
  }
}

function showCommandHelp(name: string | undefined, commands: readonly CliCommand[], io: CliIO): ExitCode {
  if (name === undefined) {
    io.stdout.write(helpText(commands));
    return ExitCode.ok;
  }
  const command = commands.find((candidate) => candidate.name === name);
  if (!command) throw new CliError('CLI_USAGE', `beamline help: unknown command '${name}'`);
  io.stdout.write(withNewline(command.usage));
  return ExitCode.ok;
}

/** The program's `--help`. */
export function helpText(commands: readonly CliCommand[]): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return `Usage: beamline <command> [options]

Runs scientific compute pipelines: steps in processes or containers, on CPUs or GPUs, with
retries, a result cache and a durable record of every run (in ./.beamline/).

Commands:
${commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`).join('\n')}

Options:
  -h, --help     Show this help; 'beamline <command> --help' shows a command's options.
  -v, --version  Print the version.

Exit codes: 0 success, 1 failed or cancelled run, 2 bad input.
`;
}

function withNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}
