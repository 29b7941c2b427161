import type { CliCommand } from '../cli-command.js';
import { requireStore, using } from '../cli-services.js';
import { resolveRunId } from '../args/resolve-run-id.js';
import { followRun } from './follow-run.js';

/** `beamline resume <run-id>`: continues a run from the store. */
export const resumeCommand: CliCommand = (program, { io, services, exit }) => {
  program
    .command('resume')
    .summary('continue a failed, cancelled or interrupted run')
    .description('Continues a failed, cancelled or interrupted run: completed steps are not run again.')
    .argument('<run-id>', 'the run (a unique start or end of its id is enough)')
    .option('--json', 'one JSON object per event per line on stdout, nothing else')
    .action(async (idOrPrefix, options) => {
      requireStore(services, io);
      exit(
        await using(services.openRuntime(io), async (runtime) => {
          const handle = await runtime.resume(await resolveRunId(runtime.store, idOrPrefix));
          return followRun(handle, runtime.store, io, { json: options.json === true });
        }),
      );
    });
};
