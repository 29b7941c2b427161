import { setTimeout as sleep } from 'node:timers/promises';
import type { RunEventOf, Store } from '@beamline/core';
import type { CliCommand } from '../cli-command.js';
import { CliError } from '../cli-error.js';
import { ExitCode, type CliIO } from '../cli-io.js';
import { requireStore, using } from '../cli-services.js';
import { resolveRunId } from '../args/resolve-run-id.js';

/** How often `--follow` looks for new events; the store is shared with the process that runs. */
const FOLLOW_POLL_MS = 250;

/** `beamline logs <run-id> [step]`: log events from the store. */
export const logsCommand: CliCommand = (program, { io, services, exit }) => {
  program
    .command('logs')
    .summary("print a run's step output (stdout to stdout, stderr to stderr)")
    .description(
      "Prints the output of a run's steps in the order it was recorded: stdout to stdout, stderr to " +
        "stderr. Without a step, every line is prefixed with its step id. A matrix step's base id " +
        "('train') selects all of its instances ('train[dataset=a]', …).",
    )
    .argument('<run-id>', 'the run (a unique start or end of its id is enough)')
    .argument('[step]', 'only this step (or matrix step)')
    .option('-f, --follow', 'keep printing new output until the run ends')
    .action(async (idOrPrefix, step, options) => {
      requireStore(services, io);
      await using(services.openStore(io), async (store) => {
        const runId = await resolveRunId(store, idOrPrefix);
        const selection = await selectSteps(store, runId, step);
        await printLogs(store, runId, selection, io, options.follow === true);
      });
      exit(ExitCode.ok);
    });
};

/** Which steps to print: one exact id (filtered in the store), a matrix family, or all. */
interface StepSelection {
  /** Passed to the store when a single step is selected. */
  exact?: string;
  matches(stepId: string): boolean;
  /** Prefix lines with the step id (when lines of several steps interleave). */
  prefix: boolean;
}

async function selectSteps(store: Store, runId: string, step: string | undefined): Promise<StepSelection> {
  if (step === undefined) return { matches: () => true, prefix: true };
  const state = await store.runState(runId);
  const ids = Object.keys(state?.steps ?? {});
  if (ids.includes(step)) return { exact: step, matches: (id) => id === step, prefix: false };
  const family = ids.filter((id) => id.startsWith(`${step}[`));
  if (family.length > 0) return { matches: (id) => id.startsWith(`${step}[`), prefix: true };
  throw new CliError(
    'CLI_NOT_FOUND',
    `Run ${runId} has no step '${step}'. Its steps: ${ids.length > 0 ? ids.join(', ') : '(none yet)'}.`,
  );
}

async function printLogs(
  store: Store,
  runId: string,
  selection: StepSelection,
  io: CliIO,
  follow: boolean,
): Promise<void> {
  let afterSeq = 0;
  for (;;) {
    // Read the status before the events: when it was already final, this read sees every event.
    const finished = (await store.runState(runId))?.status !== 'running';
    for await (const event of store.readEvents(runId, {
      afterSeq,
      types: ['log'],
      ...(selection.exact === undefined ? {} : { stepId: selection.exact }),
    })) {
      afterSeq = event.seq;
      if (event.type === 'log' && selection.matches(event.stepId)) writeLog(event, selection.prefix, io);
    }
    if (!follow || finished || io.signal.aborted) return;
    await sleep(FOLLOW_POLL_MS, undefined, { signal: io.signal }).catch(() => undefined);
  }
}

function writeLog(event: RunEventOf<'log'>, prefix: boolean, io: CliIO): void {
  const out = event.stream === 'stdout' ? io.stdout : io.stderr;
  const text = event.text.endsWith('\n') ? event.text : `${event.text}\n`;
  if (!prefix) {
    out.write(text);
    return;
  }
  const lines = text.slice(0, -1).split('\n');
  out.write(lines.map((line) => `[${event.stepId}] ${line}\n`).join(''));
}
