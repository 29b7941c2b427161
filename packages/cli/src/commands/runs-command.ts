import type { RunSummary } from '@beamline/core';
import { ExitCode, type CliCommand } from '../cli-command.js';
import { CliError } from '../cli-error.js';
import { using, type CliServices } from '../cli-services.js';
import { parseCommandArgs } from '../args/parse-command-args.js';
import { formatDuration, padVisible } from '../render/format.js';
import { formatTime } from './format-time.js';

const USAGE = `Usage: beamline runs [--json] [--limit n]

Lists the runs of the current directory, newest first.

Options:
      --json      One JSON object per run per line.
  -n, --limit n   Show at most n runs (default 20).
  -h, --help      Show this help.`;

const OPTIONS = { json: { type: 'boolean' }, limit: { type: 'string', short: 'n' } } as const;

/** `beamline runs`: the run list from the store. */
export function createRunsCommand(services: CliServices): CliCommand {
  return {
    name: 'runs',
    summary: 'List runs, newest first',
    usage: USAGE,
    async run(args, io) {
      const { values, help } = parseCommandArgs('runs', args, OPTIONS, { names: [] });
      if (help) {
        io.stdout.write(`${USAGE}\n`);
        return ExitCode.ok;
      }
      const limit = values.limit === undefined ? 20 : Number(values.limit);
      if (!Number.isInteger(limit) || limit <= 0) {
        throw new CliError(
          'CLI_USAGE',
          `beamline runs: --limit expects a positive whole number, got '${values.limit}'`,
        );
      }
      if (!services.hasStore(io)) {
        // Nothing to list is not an error, and listing must not create a store.
        if (values.json !== true) io.stdout.write(`No runs in ${io.cwd} yet.\n`);
        return ExitCode.ok;
      }
      const runs = await using(services.openStore(io), (store) => store.listRuns({ limit }));
      if (values.json === true) {
        for (const run of runs) io.stdout.write(`${JSON.stringify(run)}\n`);
      } else {
        io.stdout.write(formatRunTable(runs));
      }
      return ExitCode.ok;
    },
  };
}

/** The run list as an aligned text table. */
export function formatRunTable(runs: readonly RunSummary[]): string {
  if (runs.length === 0) return 'No runs yet.\n';
  const rows = runs.map((run) => [
    run.id,
    run.pipeline,
    run.status,
    formatCounts(run.counts),
    formatTime(run.createdAt),
    run.status === 'running' ? '-' : formatDuration(run.updatedAt - run.createdAt),
  ]);
  const header = ['RUN', 'PIPELINE', 'STATUS', 'STEPS', 'CREATED', 'DURATION'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)),
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
