import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError } from '../cli-error.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** What a subcommand accepts besides its options. */
export interface PositionalSpec {
  /** Names for messages and usage, in order; a trailing `?` marks an optional one. */
  names: readonly string[];
}

/** The parsed words of a subcommand. */
export interface ParsedCommandArgs<O extends Options> {
  values: ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>['values'];
  positionals: string[];
  /** `--help` / `-h` was given: print the usage and stop. */
  help: boolean;
}

const HELP_OPTIONS = { help: { type: 'boolean', short: 'h' } } as const satisfies Options;

/**
 * `util.parseArgs` with the program's rules: strict (unknown flags are errors), `--help` everywhere, a
 * fixed range of positionals, and every problem turned into a `CLI_USAGE` error that names the
 * subcommand and the fix.
 */
export function parseCommandArgs<O extends Options>(
  command: string,
  args: readonly string[],
  options: O,
  positionals: PositionalSpec,
): ParsedCommandArgs<O> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: { ...options, ...HELP_OPTIONS },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new CliError('CLI_USAGE', `beamline ${command}: ${describeParseError(error)}`, { cause: error });
  }
  const values = parsed.values as ParsedCommandArgs<O>['values'] & { help?: boolean };
  const help = values.help === true;
  delete values.help;
  if (!help) checkPositionals(command, parsed.positionals, positionals.names);
  return { values, positionals: parsed.positionals, help };
}

function checkPositionals(command: string, given: readonly string[], names: readonly string[]): void {
  const required = names.filter((name) => !name.endsWith('?'));
  if (given.length < required.length) {
    const missing = required.slice(given.length).map((name) => `<${name}>`);
    throw new CliError('CLI_USAGE', `beamline ${command}: missing ${missing.join(' ')}`);
  }
  if (given.length > names.length) {
    const extra = given.slice(names.length).map((word) => `'${word}'`);
    throw new CliError('CLI_USAGE', `beamline ${command}: unexpected argument ${extra.join(' ')}`);
  }
}

/** Node's messages suggest `--` for positionals starting with `-`; keep the first sentence, which names the flag. */
function describeParseError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const flag = /'([^']+)'/.exec(message)?.[1];
    return flag === undefined ? message : `unknown option '${flag}'`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return message.replace(/^Option '([^']+)'/, "option '$1'");
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return message;
  return message;
}
