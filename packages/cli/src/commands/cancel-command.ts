import type { CliCommand } from '../cli-command.js';
import { ExitCode } from '../cli-io.js';
import { requireStore, using } from '../cli-services.js';
import { resolveRunId } from '../args/resolve-run-id.js';

/** `beamline cancel <run-id>`: a cancel request through the store. */
export const cancelCommand: CliCommand = (program, { io, services, exit }) => {
  program
    .command('cancel')
    .summary('cancel a running run (also one another process drives)')
    .description(
      'Asks a running run to stop, also when another process drives it: its running steps are stopped ' +
        '(SIGTERM, a grace period, then SIGKILL) and the reason is recorded.',
    )
    .argument('<run-id>', 'the run (a unique start or end of its id is enough)')
    .option('--reason <text>', 'why (recorded with the run)', 'cancelled from the command line')
    .action(async (idOrPrefix, options) => {
      requireStore(services, io);
      const runId = await using(services.openRuntime(io), async (runtime) => {
        const id = await resolveRunId(runtime.store, idOrPrefix);
        await runtime.cancel(id, options.reason);
        return id;
      });
      io.stdout.write(`Asked run ${runId} to cancel (${options.reason}).\n`);
      exit(ExitCode.ok);
    });
};
