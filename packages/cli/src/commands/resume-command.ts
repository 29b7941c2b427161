import { ExitCode, type CliCommand } from '../cli-command.js';
import { requireStore, using, type CliServices } from '../cli-services.js';
import { parseCommandArgs } from '../args/parse-command-args.js';
import { resolveRunId } from '../args/resolve-run-id.js';
import { followRun } from './follow-run.js';

const USAGE = `Usage: beamline resume <run-id> [--json]

Continues a failed, cancelled or interrupted run: completed steps are not run again.

Options:
      --json   One JSON object per event per line on stdout, nothing else.
  -h, --help   Show this help.`;

const OPTIONS = { json: { type: 'boolean' } } as const;

/** `beamline resume <run-id>`: continues a run from the store. */
export function createResumeCommand(services: CliServices): CliCommand {
  return {
    name: 'resume',
    summary: 'Continue a failed, cancelled or interrupted run',
    usage: USAGE,
    async run(args, io) {
      const { values, positionals, help } = parseCommandArgs('resume', args, OPTIONS, { names: ['run-id'] });
      if (help) {
        io.stdout.write(`${USAGE}\n`);
        return ExitCode.ok;
      }
      requireStore(services, io);
      return using(services.openRuntime(io), async (runtime) => {
        const runId = await resolveRunId(runtime.store, positionals[0] ?? '');
        const handle = await runtime.resume(runId);
        return followRun(handle, runtime.store, io, { json: values.json === true });
      });
    },
  };
}
