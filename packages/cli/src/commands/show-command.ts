import {
  formatBytes,
  formatDuration,
  initialRunState,
  type RunRecord,
  type RunState,
  type StepState,
  type Store,
} from '@beamline/core';
import type { CliCommand } from '../cli-command.js';
import { CliError } from '../cli-error.js';
import { ExitCode } from '../cli-io.js';
import { requireStore, using } from '../cli-services.js';
import { resolveRunId } from '../args/resolve-run-id.js';
import { colourEnabled, createStyle, displayPath, formatMetrics, type Style } from '../render/format.js';
import { followStoredRun } from './follow-stored-run.js';
import { formatTime } from './format-time.js';
import { latestMetrics } from './metrics.js';
import { formatAttempt, isDeadLetter, readStepAttempts, type StepAttempt } from './step-attempts.js';

/** Everything `show` prints, also its `--json` shape. */
interface RunDetails extends RunState {
  source?: string;
  params: Record<string, unknown>;
  cwd?: string;
  /** Latest metric values per step (for cached steps: from the run that computed the result). */
  metrics: Record<string, Record<string, number>>;
  /** Steps whose retries were spent (failed with an error that would have been retried). */
  deadLetters: string[];
  /** Every attempt of the steps that were tried more than once or are dead letters. */
  attempts: Record<string, StepAttempt[]>;
}

/** `beamline show <run-id>`: the materialised state of a run. */
export const showCommand: CliCommand = (program, { io, services, exit }) => {
  program
    .command('show')
    .summary('show a run: steps, attempts, durations, outputs, artifacts, errors')
    .description(
      'Shows a run: its status, parameters, and every step with status, attempts, duration, outputs, ' +
        'artifacts, metrics and errors. A step whose retries were spent is marked as a dead letter; ' +
        'the attempts of a step tried more than once are listed (on a queue: worker, host, error).',
    )
    .argument('<run-id>', 'the run (a unique start or end of its id is enough)')
    .option('--json', 'the run as one JSON object (with --follow: one JSON event per line)')
    .option(
      '-f, --follow',
      'show the run live as beamline run does (its recorded events, then new ones) until it ends; Ctrl-C stops following, not the run',
    )
    .action(async (idOrPrefix, options) => {
      requireStore(services, io);
      if (options.follow === true) {
        const code = await using(services.openStore(io), async (store) =>
          followStoredRun(store, await resolveRunId(store, idOrPrefix), io, { json: options.json === true }),
        );
        return exit(code);
      }
      const details = await using(services.openStore(io), (store) => loadRunDetails(store, idOrPrefix));
      if (options.json === true) io.stdout.write(`${JSON.stringify(details)}\n`);
      else
        io.stdout.write(
          formatRunDetails(details, io.cwd, createStyle(colourEnabled(io.stdout.isTTY, io.env))),
        );
      exit(ExitCode.ok);
    });
};

/** Reads a run's record, state and metrics; steps come in plan order. */
async function loadRunDetails(store: Store, idOrPrefix: string): Promise<RunDetails> {
  const runId = await resolveRunId(store, idOrPrefix);
  const [state, record] = await Promise.all([store.runState(runId), store.getRun(runId)]);
  if (!state) throw new CliError('CLI_NOT_FOUND', `Run ${runId} has no recorded state.`);
  const steps = orderSteps(state.steps, record);
  // Entries, not assignments: step ids and metric names are the user's (`constructor`, `__proto__`).
  const metrics: [string, Record<string, number>][] = [];
  for (const step of Object.values(steps)) {
    const source = step.status === 'cached' && step.fromRunId !== undefined ? step.fromRunId : runId;
    const values = await latestMetrics(store, source, step.stepId);
    if (values.size > 0) metrics.push([step.stepId, Object.fromEntries(values)]);
  }
  const deadLetters = Object.values(steps)
    .filter(isDeadLetter)
    .map((step) => step.stepId);
  const attempts: [string, StepAttempt[]][] = [];
  for (const step of Object.values(steps)) {
    if (step.attempt > 1 || isDeadLetter(step))
      attempts.push([step.stepId, await readStepAttempts(store, runId, step.stepId)]);
  }
  return {
    ...state,
    steps,
    params: record?.params ?? {},
    ...(record?.source === undefined ? {} : { source: record.source }),
    ...(record?.cwd === undefined ? {} : { cwd: record.cwd }),
    metrics: Object.fromEntries(metrics),
    deadLetters,
    attempts: Object.fromEntries(attempts),
  };
}

function orderSteps(
  steps: Record<string, StepState>,
  record: RunRecord | undefined,
): Record<string, StepState> {
  if (!record) return steps;
  const planned = Object.keys(initialRunState(record).steps).filter((id) => Object.hasOwn(steps, id));
  return { ...Object.fromEntries(planned.map((id) => [id, steps[id]!])), ...steps };
}

/** The human-readable form of `show`. */
function formatRunDetails(details: RunDetails, cwd: string, style: Style): string {
  const base = details.cwd ?? cwd;
  const lines: string[] = [];
  // A run whose engine died still says `running` in the store; `interrupted` is what it is.
  const runStatus = details.interrupted ? 'interrupted' : details.status;
  lines.push(`${style.bold(`Run ${details.id}`)}  ${statusText(runStatus, style)}`);
  lines.push(
    `  pipeline  ${details.pipeline}${details.source ? `  (${displayPath(details.source, cwd)})` : ''}`,
  );
  const params = Object.entries(details.params);
  if (params.length > 0) {
    lines.push(`  params    ${params.map(([name, value]) => `${name}=${JSON.stringify(value)}`).join(' ')}`);
  }
  const duration =
    details.status === 'running' ? runStatus : formatDuration(details.updatedAt - details.createdAt);
  lines.push(`  created   ${formatTime(details.createdAt)}  (${duration})`);
  if (details.error)
    lines.push(`  error     ${style.red(`${details.error.code}: ${details.error.message}`)}`);
  if (details.cancelReason) lines.push(`  cancelled ${details.cancelReason}`);
  if (details.interrupted)
    lines.push(
      `  note      its engine is gone (killed or crashed); continue it with 'beamline resume ${details.id}'`,
    );
  lines.push('', style.bold('Steps'));
  for (const step of Object.values(details.steps)) {
    const facts = [
      statusText(details.interrupted && step.status === 'running' ? 'interrupted' : step.status, style),
    ];
    if (step.attempt > 0) facts.push(`attempt ${step.attempt}`);
    if (details.deadLetters.includes(step.stepId))
      facts.push(
        style.red(`dead letter: retries spent (${step.attempt} attempt${step.attempt === 1 ? '' : 's'})`),
      );
    if (step.startedAt !== undefined && step.endedAt !== undefined) {
      facts.push(formatDuration(step.endedAt - step.startedAt));
    }
    if (step.fromRunId) facts.push(style.dim(`from run ${step.fromRunId}`));
    lines.push(`  ${style.bold(step.stepId)}  ${facts.join('  ')}`);
    const metrics = Object.hasOwn(details.metrics, step.stepId) ? details.metrics[step.stepId] : undefined;
    if (metrics) lines.push(`      metrics    ${formatMetrics(metrics)}`);
    for (const [name, value] of Object.entries(step.outputs ?? {})) {
      lines.push(`      output     ${name} = ${typeof value === 'string' ? value : JSON.stringify(value)}`);
    }
    for (const artifact of step.artifacts ?? []) {
      lines.push(
        `      artifact   ${artifact.name}  ${displayPath(artifact.path, base)}  ${formatBytes(artifact.size)}  ${style.dim(`sha256:${artifact.sha256.slice(0, 12)}`)}`,
      );
    }
    if (step.error) lines.push(`      error      ${style.red(`${step.error.code}: ${step.error.message}`)}`);
    const attempts = Object.hasOwn(details.attempts, step.stepId) ? details.attempts[step.stepId] : undefined;
    for (const attempt of attempts ?? []) lines.push(`      ${formatAttempt(attempt)}`);
  }
  return `${lines.join('\n')}\n`;
}

function statusText(status: string, style: Style): string {
  switch (status) {
    case 'succeeded':
    case 'cached':
      return style.green(status);
    case 'failed':
      return style.red(status);
    case 'cancelled':
    case 'running':
    case 'interrupted':
      return style.yellow(status);
    default:
      return style.dim(status);
  }
}
