import { ExitCode, type CliCommand } from '../cli-command.js';
import { requireStore, using, type CliServices } from '../cli-services.js';
import { parseCommandArgs } from '../args/parse-command-args.js';
import { resolveRunId } from '../args/resolve-run-id.js';

const USAGE = `Usage: beamline cancel <run-id> [--reason text]

Asks a running run to stop, also when another process drives it: its running steps are stopped
(SIGTERM, a grace period, then SIGKILL) and the reason is recorded.

Options:
      --reason text   Why (recorded with the run; default 'cancelled from the command line').
  -h, --help          Show this help.`;

const OPTIONS = { reason: { type: 'string' } } as const;

/** `beamline cancel <run-id>`: a cancel request through the store. */
export function createCancelCommand(services: CliServices): CliCommand {
  return {
    name: 'cancel',
    summary: 'Cancel a running run (also one another process drives)',
    usage: USAGE,
    async run(args, io) {
      const { values, positionals, help } = parseCommandArgs('cancel', args, OPTIONS, { names: ['run-id'] });
      if (help) {
        io.stdout.write(`${USAGE}\n`);
        return ExitCode.ok;
      }
      requireStore(services, io);
      const reason = values.reason ?? 'cancelled from the command line';
      const runId = await using(services.openRuntime(io), async (runtime) => {
        const id = await resolveRunId(runtime.store, positionals[0] ?? '');
        await runtime.cancel(id, reason);
        return id;
      });
      io.stdout.write(`Asked run ${runId} to cancel (${reason}).\n`);
      return ExitCode.ok;
    },
  };
}
