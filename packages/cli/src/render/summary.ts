import { formatBytes, formatDuration, type RunResult } from '@beamline/core';
import { displayPath, formatMetrics, padVisible, textWidth, type Style } from './format.js';
import { countSteps, stepViews, type RunView } from './run-view.js';
import { firstLine } from './step-line.js';

export interface SummaryOptions {
  cwd: string;
  style: Style;
}

/**
 * The end-of-run report: outcome and counts, failures with their last log lines, metrics and artifacts
 * per step, and the commands to dig further. `view` must already hold the final state of every step.
 */
export function renderSummary(view: RunView, result: RunResult, options: SummaryOptions): string {
  const { style, cwd } = options;
  const lines: string[] = [];
  const counts = countSteps(view);
  const steps = stepViews(view);
  const headline = `Run ${result.runId} ${result.status} in ${formatDuration(result.durationMs)}`;
  lines.push(
    result.status === 'succeeded'
      ? style.green(style.bold(headline))
      : result.status === 'failed'
        ? style.red(style.bold(headline))
        : style.yellow(style.bold(headline)),
  );
  const countParts = [
    `${counts.succeeded} succeeded`,
    `${counts.cached} cached`,
    `${counts.failed} failed`,
    ...(counts.cancelled > 0 ? [`${counts.cancelled} cancelled`] : []),
    ...(counts.other > 0 ? [`${counts.other} not run`] : []),
  ];
  lines.push(`  ${steps.length} steps: ${countParts.join(', ')}`);
  const failed = steps.filter((step) => step.state.status === 'failed');
  // A run that failed because of a step repeats that step's error; the Failed section shows it once.
  if (result.error && failed.length === 0) {
    lines.push(`  ${style.red(`${result.error.code}: ${firstLine(result.error.message)}`)}`);
  } else if (result.status === 'cancelled' && view.state.cancelReason) {
    lines.push(`  ${style.yellow(`reason: ${view.state.cancelReason}`)}`);
  }

  const idWidth = Math.min(40, Math.max(0, ...steps.map((step) => textWidth(step.id))));
  if (failed.length > 0) {
    lines.push('', style.bold('Failed'));
    for (const { id, state, display } of failed) {
      const error = state.error ? `${state.error.code}: ${firstLine(state.error.message)}` : 'failed';
      lines.push(`  ${padVisible(id, idWidth)}  ${style.red(error)}`);
      for (const tail of display.tail) lines.push(`    ${style.dim(tail)}`);
    }
  }

  const withMetrics = steps.filter((step) => step.display.metrics.size > 0);
  if (withMetrics.length > 0) {
    lines.push('', style.bold('Metrics'));
    for (const { id, display } of withMetrics) {
      lines.push(`  ${padVisible(id, idWidth)}  ${formatMetrics(display.metrics)}`);
    }
  }

  const artifacts = steps.flatMap((step) =>
    (step.state.artifacts ?? []).map((artifact) => ({ id: step.id, artifact })),
  );
  if (artifacts.length > 0) {
    lines.push('', style.bold('Artifacts'));
    const nameWidth = Math.max(...artifacts.map(({ artifact }) => textWidth(artifact.name)));
    const pathWidth = Math.max(
      ...artifacts.map(({ artifact }) => textWidth(displayPath(artifact.path, cwd))),
    );
    for (const { id, artifact } of artifacts) {
      const path = padVisible(displayPath(artifact.path, cwd), pathWidth);
      lines.push(
        `  ${padVisible(id, idWidth)}  ${padVisible(artifact.name, nameWidth)}  ${path}  ${style.dim(formatBytes(artifact.size).padStart(7))}`,
      );
    }
  }

  const hintStep =
    failed[0] ??
    steps.find((step) => step.state.status !== 'cached' && step.state.status !== 'pending') ??
    steps[0];
  lines.push('', style.bold('Next'), `  beamline show ${result.runId}`);
  lines.push(`  beamline logs ${result.runId} ${hintStep ? quoteArg(hintStep.id) : '<step>'}`);
  if (counts.cached > 0 || result.status === 'succeeded') {
    lines.push(`  beamline explain ${result.runId} ${hintStep ? quoteArg(hintStep.id) : '<step>'}`);
  }
  if (result.status !== 'succeeded') lines.push(`  beamline resume ${result.runId}`);
  return `${lines.join('\n')}\n`;
}

/** Matrix step ids (`train[dataset=a]`) contain shell glob characters; quote them in copy-paste hints. */
export function quoteArg(arg: string): string {
  return /^[\w./:=@-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
