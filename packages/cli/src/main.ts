import { CommanderError } from '@commander-js/extra-typings';
import type { CliCommand, CliContext } from './cli-command.js';
import { describeError, exitCodeForError } from './cli-error.js';
import { ExitCode, type CliIO } from './cli-io.js';
import { defaultCliServices, type CliServices } from './cli-services.js';
import { builtinCommands } from './commands/builtin-commands.js';
import { pluginCommands } from './plugin-commands.js';
import { commandPath, createProgram } from './program.js';

/** What `main` can be given instead of the real services and command set (tests). */
export interface MainOptions {
  services?: CliServices;
  /** Replaces the subcommands. */
  commands?: readonly CliCommand[];
}

/**
 * The `beamline` program without the process around it: parses `argv` (the words after the program
 * name), runs the subcommand and returns the exit code. It never calls `process.exit`; errors are
 * printed to `io.stderr` (with a stack trace when `BEAMLINE_DEBUG` is set).
 */
export async function main(argv: readonly string[], io: CliIO, options: MainOptions = {}): Promise<ExitCode> {
  const outcome: { code: ExitCode } = { code: ExitCode.ok };
  const context: CliContext = {
    io,
    services: options.services ?? defaultCliServices,
    exit: (code) => (outcome.code = code),
  };
  const program = createProgram(context, options.commands ?? [...builtinCommands, ...pluginCommands]);
  let command = 'beamline';
  program.hook('preAction', (_program, action) => {
    command = commandPath(action);
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return outcome.code;
  } catch (error) {
    // Commander has printed the help or the usage error already.
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.ok : ExitCode.badInput;
    io.stderr.write(withNewline(describeError(error, command, Boolean(io.env.BEAMLINE_DEBUG))));
    return exitCodeForError(error);
  }
}

function withNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}
