import { formatDuration, type RunSummary } from '@beamline/core';
import type { CliCommand } from '../cli-command.js';
import { ExitCode } from '../cli-io.js';
import { using } from '../cli-services.js';
import { positiveInteger } from '../args/option-parsers.js';
import { padVisible, textWidth } from '../render/format.js';
import { formatTime } from './format-time.js';

/** `beamline runs`: the run list from the store. */
export const runsCommand: CliCommand = (program, { io, services, exit }) => {
  program
    .command('runs')
    .summary('list runs, newest first')
    .description('Lists the runs of the current directory, newest first.')
    .option('--json', 'one JSON object per run per line')
    .option('-n, --limit <n>', 'show at most n runs', positiveInteger, 20)
    .action(async (options) => {
      if (!services.hasStore(io)) {
        // Nothing to list is not an error, and listing must not create a store.
        if (options.json !== true) io.stdout.write(`No runs in ${io.cwd} yet.\n`);
        return exit(ExitCode.ok);
      }
      const runs = await using(services.openStore(io), (store) => store.listRuns({ limit: options.limit }));
      if (options.json === true) {
        for (const run of runs) io.stdout.write(`${JSON.stringify(run)}\n`);
      } else {
        io.stdout.write(formatRunTable(runs));
      }
      exit(ExitCode.ok);
    });
};

/** The run list as an aligned text table. */
function formatRunTable(runs: readonly RunSummary[]): string {
  if (runs.length === 0) return 'No runs yet.\n';
  const rows = runs.map((run) => [
    run.id,
    run.pipeline,
    run.interrupted ? 'interrupted' : run.status,
    formatCounts(run.counts),
    formatTime(run.createdAt),
    run.status === 'running' ? '-' : formatDuration(run.updatedAt - run.createdAt),
  ]);
  const header = ['RUN', 'PIPELINE', 'STATUS', 'STEPS', 'CREATED', 'DURATION'];
  const widths = header.map((title, column) =>
    Math.max(textWidth(title), ...rows.map((row) => textWidth(row[column] ?? ''))),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => padVisible(cell, widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return `${[header, ...rows].map(line).join('\n')}\n`;
}

function formatCounts(counts: RunSummary['counts']): string {
  const parts = Object.entries(counts)
    .filter(([, count]) => count !== undefined && count > 0)
    .map(([status, count]) => `${count} ${status}`);
  return parts.length > 0 ? parts.join(', ') : '-';
}
