import type { RunResult } from '@beamline/core';
import { displayPath, formatBytes, formatDuration, formatMetrics, padVisible, type Style } from './format.js';
import { countSteps, type RunView } from './run-view.js';
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
  const steps = [...view.steps.values()];
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
  const failed = steps.filter((step) => step.status === 'failed');
  // A run that failed because of a step repeats that step's error; the Failed section shows it once.
  if (result.error && failed.length === 0) {
    lines.push(`  ${style.red(`${result.error.code}: ${firstLine(result.error.message)}`)}`);
  } else if (result.status === 'cancelled' && view.cancelReason) {
    lines.push(`  ${style.yellow(`reason: ${view.cancelReason}`)}`);
  }

  const idWidth = Math.min(40, Math.max(0, ...steps.map((step) => [...step.id].length)));
  if (failed.length > 0) {
    lines.push('', style.bold('Failed'));
    for (const step of failed) {
      const error = step.error ? `${step.error.code}: ${firstLine(step.error.message)}` : 'failed';
      lines.push(`  ${padVisible(step.id, idWidth)}  ${style.red(error)}`);
      for (const tail of step.tail) lines.push(`    ${style.dim(tail)}`);
    }
  }

  const withMetrics = steps.filter((step) => step.metrics.size > 0);
  if (withMetrics.length > 0) {
    lines.push('', style.bold('Metrics'));
    for (const step of withMetrics) {
      lines.push(`  ${padVisible(step.id, idWidth)}  ${formatMetrics(step.metrics)}`);
    }
  }

  const artifacts = steps.flatMap((step) => step.artifacts.map((artifact) => ({ step, artifact })));
  if (artifacts.length > 0) {
    lines.push('', style.bold('Artifacts'));
    const nameWidth = Math.max(...artifacts.map(({ artifact }) => artifact.name.length));
    const pathWidth = Math.max(...artifacts.map(({ artifact }) => displayPath(artifact.path, cwd).length));
    for (const { step, artifact } of artifacts) {
      const path = padVisible(displayPath(artifact.path, cwd), pathWidth);
      lines.push(
        `  ${padVisible(step.id, idWidth)}  ${padVisible(artifact.name, nameWidth)}  ${path}  ${style.dim(formatBytes(artifact.size).padStart(7))}`,
      );
    }
  }

  const hintStep =
    failed[0] ?? steps.find((step) => step.status !== 'cached' && step.status !== 'pending') ?? steps[0];
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
