import { formatDuration, type ErrorInfo } from '@beamline/core';
import { chatLiteral, codeBlock, MAX_MESSAGE_CHARS, truncate } from './chat-text.js';

/** Most failed steps listed in one message (the rest are counted). */
const MAX_FAILED_LISTED = 5;
/** Longest error message quoted per failed step. */
const MAX_ERROR_CHARS = 600;

/** What the notifier knows about a run when it ends. */
export interface RunSummaryText {
  readonly runId: string;
  readonly pipeline: string;
  readonly durationMs: number;
  /** Steps that ran to success, came from the cache, failed or were cancelled. */
  readonly counts: Readonly<Record<'succeeded' | 'cached' | 'failed' | 'cancelled', number>>;
}

/** A failed step and its last error. */
export interface FailedStep {
  readonly stepId: string;
  readonly attempt: number;
  readonly error: ErrorInfo;
}

function runName(run: { pipeline: string; runId: string }): string {
  return `**${chatLiteral(truncate(run.pipeline, 100))}** (run \`${chatLiteral(run.runId)}\`)`;
}

function countsLine(counts: RunSummaryText['counts']): string {
  const parts = (['succeeded', 'cached', 'failed', 'cancelled'] as const)
    .filter((status) => counts[status] > 0)
    .map((status) => `${counts[status]} ${status}`);
  return parts.length > 0 ? `steps: ${parts.join(', ')}` : 'no steps ran';
}

/** `:white_check_mark: pipeline (run …) succeeded in 3m 02s` and its step counts. */
export function successMessage(run: RunSummaryText): string {
  return `:white_check_mark: ${runName(run)} succeeded in ${formatDuration(run.durationMs)}; ${countsLine(run.counts)}`;
}

/** The failure, each failed step with its error code and message (cut), and the step counts. */
export function failureMessage(run: RunSummaryText, error: ErrorInfo, failed: readonly FailedStep[]): string {
  const lines = [
    `:x: ${runName(run)} failed after ${formatDuration(run.durationMs)}: ${chatLiteral(truncate(error.message, 300))}`,
    countsLine(run.counts),
  ];
  for (const step of failed.slice(0, MAX_FAILED_LISTED)) {
    lines.push(
      `- step \`${chatLiteral(truncate(step.stepId, 100))}\` (attempt ${step.attempt}) ${chatLiteral(step.error.code)}:`,
      codeBlock(truncate(step.error.message, MAX_ERROR_CHARS)),
    );
  }
  if (failed.length > MAX_FAILED_LISTED)
    lines.push(`… and ${failed.length - MAX_FAILED_LISTED} more failed steps`);
  return truncate(lines.join('\n'), MAX_MESSAGE_CHARS);
}

/** The run was cancelled, with the reason. */
export function cancelledMessage(run: RunSummaryText, reason: string): string {
  return (
    `:no_entry_sign: ${runName(run)} was cancelled after ${formatDuration(run.durationMs)}: ` +
    `${chatLiteral(truncate(reason, 300))}; ${countsLine(run.counts)}`
  );
}

/** A step has been running longer than the threshold. */
export function longStepMessage(
  run: { runId: string; pipeline: string },
  stepId: string,
  attempt: number,
  runningMs: number,
): string {
  return (
    `:hourglass_flowing_sand: step \`${chatLiteral(truncate(stepId, 100))}\` of ${runName(run)} has been running ` +
    `for ${formatDuration(runningMs)} (attempt ${attempt})`
  );
}
