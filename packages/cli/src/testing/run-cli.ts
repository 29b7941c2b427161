import type { CliCommand } from '../cli-command.js';
import type { CliServices } from '../cli-services.js';
import { main } from '../main.js';
import { createFakeIO, type FakeIO } from './fake-io.js';

/** What a test sees of one run of the program. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `main` with a fake terminal. `commands` limits the program to some subcommands (e.g. only
 * `container`, whose tests must not open a store); `io` lets a test abort or inspect it while it runs.
 */
export async function runCli(
  argv: readonly string[],
  options: { io?: FakeIO; commands?: readonly CliCommand[]; services?: CliServices } = {},
): Promise<CliRun> {
  const io = options.io ?? createFakeIO();
  const code = await main(argv, io, {
    ...(options.commands === undefined ? {} : { commands: options.commands }),
    ...(options.services === undefined ? {} : { services: options.services }),
  });
  return { code, stdout: io.stdout.text, stderr: io.stderr.text };
}
