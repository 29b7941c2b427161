import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { createPlugin } from './create-plugin.js';
import { CreatePluginError, isCreatePluginError } from './create-plugin-error.js';
import { FEATURES, parseFeatures } from './features.js';

/** Where the program reads and writes: the process's, or a test's. */
export interface MainIO {
  readonly cwd: string;
  write(text: string): void;
  writeError(text: string): void;
}

/** The help text of the `create-beamline-plugin` program. */
export const USAGE = `Usage: npm create beamline-plugin <name> [-- options]
       create-beamline-plugin <name> [options]

Generates a Beamline plugin package: its factory, a command, runner or service, tests
running core's contract suites, and lint, format and type-check settings.

Arguments:
  <name>               the plugin's name: lowercase words joined by hyphens (acme, acme-shout)

Options:
  --with <list>        what to generate, comma-separated: ${FEATURES.join(', ')} (default: command)
  --package <name>     the npm package name (default: beamline-plugin-<name>)
  --dir <path>         where to write it (default: ./<package name without scope>)
  -h, --help           show this help
`;

/** The program: returns its exit code (0 done, 2 bad input), never throws for bad input. */
export async function main(argv: readonly string[], io: MainIO): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        with: { type: 'string' },
        package: { type: 'string' },
        dir: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.write(USAGE);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new CreatePluginError(
        'CREATE_USAGE',
        positionals.length === 0
          ? 'the plugin name is missing'
          : `expected one name, got ${positionals.length}`,
      );
    }
    const created = await createPlugin({
      name: positionals[0]!,
      cwd: io.cwd,
      ...(values.with === undefined ? {} : { features: parseFeatures(values.with) }),
      ...(values.package === undefined ? {} : { packageName: values.package }),
      ...(values.dir === undefined ? {} : { directory: values.dir }),
    });
    const where = relative(io.cwd, created.directory) || '.';
    io.write(
      `Created ${created.packageName} in ${where} (${created.files.length} files).\n\n` +
        `Next:\n  cd ${where}\n  npm install\n  npm test\n`,
    );
    return 0;
  } catch (error) {
    if (isCreatePluginError(error) || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.writeError(`create-beamline-plugin: ${(error as Error).message}\nRun with --help for the usage.\n`);
      return 2;
    }
    throw error;
  }
}
