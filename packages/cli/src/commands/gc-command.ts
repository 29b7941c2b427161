import { InvalidArgumentError } from '@commander-js/extra-typings';
import { formatBytes, type GarbageReport } from '@beamline/core';
import type { CliCommand } from '../cli-command.js';
import { CliError } from '../cli-error.js';
import { ExitCode } from '../cli-io.js';
import { using } from '../cli-services.js';
import { nonNegativeInteger } from '../args/option-parsers.js';

/** A number of days ≥ 0, fractions allowed (`0.5` is twelve hours). */
function days(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError('expected a number of days ≥ 0.');
  }
  return n;
}

/** `beamline gc`: deletes old finished runs and gives the space of their logs back. */
export const gcCommand: CliCommand = (program, { io, services, exit }) => {
  program
    .command('gc')
    .summary('delete old finished runs and reclaim their log space')
    .description(
      'Deletes finished runs (their record, state, events and log text) that are older than --keep-days and ' +
        'not among the newest --keep-runs, and gives the space of their log text back (the log text file is ' +
        'rewritten safely: a crash loses nothing that is kept). Running and interrupted runs are never ' +
        'deleted; cached results stay. Give at least one limit.',
    )
    .option('--keep-days <n>', 'keep runs updated within the last n days', days)
    .option('--keep-runs <n>', 'keep the newest n runs, whatever their age', nonNegativeInteger)
    .option('--dry-run', 'only say what would be deleted')
    .option('--json', 'the report as one JSON object')
    .action(async (options) => {
      if (options.keepDays === undefined && options.keepRuns === undefined) {
        throw new CliError('CLI_USAGE', 'give --keep-days <n>, --keep-runs <n> or both.');
      }
      if (!services.hasStore(io)) {
        if (options.json !== true) io.stdout.write(`No runs in ${io.cwd} yet.\n`);
        else
          io.stdout.write(
            `${JSON.stringify({ runs: [], events: 0, reclaimedBytes: 0, dryRun: options.dryRun === true })}\n`,
          );
        return exit(ExitCode.ok);
      }
      const report = await using(services.openStore(io), (store) => {
        if (store.collectGarbage === undefined) {
          throw new CliError('CLI_USAGE', `${store.description} cannot collect garbage.`);
        }
        return store.collectGarbage({
          ...(options.keepDays === undefined ? {} : { keepDays: options.keepDays }),
          ...(options.keepRuns === undefined ? {} : { keepRuns: options.keepRuns }),
          dryRun: options.dryRun === true,
        });
      });
      io.stdout.write(options.json === true ? `${JSON.stringify(report)}\n` : formatReport(report));
      exit(ExitCode.ok);
    });
};

/** `Deleted 3 runs (1,204 events); gave back 12.0 MB of log text.` and the run ids. */
function formatReport(report: GarbageReport): string {
  const runs = report.runs.length === 1 ? '1 run' : `${report.runs.length} runs`;
  const events = `${report.events.toLocaleString('en-US')} event${report.events === 1 ? '' : 's'}`;
  if (report.runs.length === 0 && report.reclaimedBytes === 0) {
    return report.dryRun ? 'Nothing to delete.\n' : 'Nothing to delete; nothing to give back.\n';
  }
  const head = report.dryRun
    ? `Would delete ${runs} (${events}), giving back about ${formatBytes(report.reclaimedBytes)} of log text.`
    : `Deleted ${runs} (${events}); gave back ${formatBytes(report.reclaimedBytes)} of log text.`;
  return `${[head, ...report.runs.map((id) => `  ${id}`)].join('\n')}\n`;
}
