import { escapeText, formatDuration, type ErrorInfo, type RunSummary, type Store } from '@beamline/core';
import type { CliCommand } from '../cli-command.js';
import { ExitCode } from '../cli-io.js';
import { using } from '../cli-services.js';
import { positiveInteger } from '../args/option-parsers.js';
import { padVisible, textWidth } from '../render/format.js';
import { formatTime } from './format-time.js';
import { isDeadLetter, readStepAttempts, type StepAttempt } from './step-attempts.js';

/** `beamline runs`: the run list from the store. */
export const runsCommand: CliCommand = (program, { io, services, exit }) => {
  program
    .command('runs')
    .summary('list runs, newest first')
    .description('Lists the runs of the current directory, newest first.')
    .option('--json', 'one JSON object per run per line')
    .option('-n, --limit <n>', 'show at most n runs (with --dead-letters: n steps)', positiveInteger, 20)
    .option(
      '--dead-letters',
      `list the steps whose retries were spent, newest runs first (of the last ${DEAD_LETTER_SCAN} runs), with every attempt`,
    )
    .action(async (options) => {
      if (!services.hasStore(io)) {
        // Nothing to list is not an error, and listing must not create a store.
        if (options.json !== true) io.stdout.write(`No runs in ${io.cwd} yet.\n`);
        return exit(ExitCode.ok);
      }
      if (options.deadLetters === true) {
        const letters = await using(services.openStore(io), (store) => listDeadLetters(store, options.limit));
        if (options.json === true) {
          for (const letter of letters) io.stdout.write(`${JSON.stringify(letter)}\n`);
        } else {
          io.stdout.write(formatDeadLetters(letters));
        }
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

/** How many of the newest runs `--dead-letters` looks through. */
const DEAD_LETTER_SCAN = 1000;

/** A step whose retries were spent, as `runs --dead-letters` lists it (also its `--json` shape). */
interface DeadLetter {
  runId: string;
  pipeline: string;
  stepId: string;
  /** Epoch ms of the last attempt's failure. */
  failedAt?: number;
  error?: ErrorInfo;
  attempts: StepAttempt[];
}

/** The dead letters of the newest runs, newest first, at most `limit`. */
async function listDeadLetters(store: Store, limit: number): Promise<DeadLetter[]> {
  const letters: DeadLetter[] = [];
  for (const run of await store.listRuns({ limit: DEAD_LETTER_SCAN })) {
    if ((run.counts.failed ?? 0) === 0) continue;
    const state = await store.runState(run.id);
    for (const step of Object.values(state?.steps ?? {})) {
      if (!isDeadLetter(step)) continue;
      letters.push({
        runId: run.id,
        pipeline: run.pipeline,
        stepId: step.stepId,
        ...(step.endedAt === undefined ? {} : { failedAt: step.endedAt }),
        ...(step.error === undefined ? {} : { error: step.error }),
        attempts: await readStepAttempts(store, run.id, step.stepId),
      });
      if (letters.length >= limit) return letters;
    }
  }
  return letters;
}

/** Dead letters as a table: one row per step, the last attempt's worker and error. */
function formatDeadLetters(letters: readonly DeadLetter[]): string {
  if (letters.length === 0) return 'No dead letters: no step has spent its retries.\n';
  const rows = letters.map((letter) => {
    const last = letter.attempts.at(-1);
    return [
      letter.runId,
      escapeText(letter.stepId),
      String(letter.attempts.length),
      letter.failedAt === undefined ? '-' : formatTime(letter.failedAt),
      escapeText(last?.worker ?? last?.host ?? '-'),
      letter.error === undefined ? '-' : escapeText(`${letter.error.code}: ${letter.error.message}`),
    ];
  });
  const header = ['RUN', 'STEP', 'ATTEMPTS', 'FAILED', 'LAST WORKER', 'ERROR'];
  const widths = header.map((title, column) =>
    Math.max(textWidth(title), ...rows.map((row) => textWidth(row[column] ?? ''))),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : padVisible(cell, widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[header, ...rows].map(line).join('\n')}\n`;
}
