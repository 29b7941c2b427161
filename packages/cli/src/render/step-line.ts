import type { RunView, StepView } from './run-view.js';
import {
  formatDuration,
  formatMetrics,
  formatNumber,
  padVisible,
  progressBar,
  type Style,
} from './format.js';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** The status symbol of a step; running steps spin with time so a stuck terminal is visible as such. */
export function stepSymbol(step: StepView, style: Style, now: number): string {
  switch (step.status) {
    case 'pending':
      return style.dim('·');
    case 'queued':
      return style.dim('○');
    case 'running':
      return style.cyan(SPINNER[Math.floor(now / 100) % SPINNER.length] ?? '•');
    case 'retrying':
      return style.yellow('↻');
    case 'succeeded':
      return style.green('✔');
    case 'cached':
      return style.green('↺');
    case 'failed':
      return style.red('✖');
    case 'cancelled':
      return style.yellow('⊘');
  }
}

/** First line of an error message: status lines are one row each. */
export function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}

/** One live status line of a step (not yet cut to the terminal width). */
export function renderStepLine(
  step: StepView,
  options: { now: number; idWidth: number; style: Style },
): string {
  const { now, idWidth, style } = options;
  const parts: string[] = [];
  const attempt = step.attempt > 1 ? `attempt ${step.attempt}` : undefined;
  const metrics = step.metrics.size > 0 ? formatMetrics(step.metrics) : undefined;
  switch (step.status) {
    case 'pending':
      parts.push(style.dim('waiting'));
      break;
    case 'queued':
      parts.push(style.dim('queued'));
      break;
    case 'running': {
      const progress = step.progress;
      if (progress?.total !== undefined) {
        parts.push(
          `${style.cyan(progressBar(progress.current, progress.total))} ${formatNumber(progress.current)}/${formatNumber(progress.total)}`,
        );
      } else if (progress) {
        parts.push(formatNumber(progress.current));
      }
      if (progress?.message) parts.push(style.dim(progress.message));
      if (attempt) parts.push(style.yellow(attempt));
      if (step.startedAt !== undefined) parts.push(formatDuration(Math.max(0, now - step.startedAt)));
      if (step.gpus.length > 0) parts.push(style.dim(`gpu ${step.gpus.join(',')}`));
      if (metrics) parts.push(metrics);
      break;
    }
    case 'retrying':
      parts.push(
        style.yellow(
          `retrying${step.retryDelayMs === undefined ? '' : ` in ${formatDuration(step.retryDelayMs)}`}`,
        ),
      );
      if (step.error) parts.push(style.dim(`attempt ${step.attempt}: ${firstLine(step.error.message)}`));
      break;
    case 'succeeded':
      if (step.durationMs !== undefined) parts.push(formatDuration(step.durationMs));
      if (attempt) parts.push(style.yellow(attempt));
      if (metrics) parts.push(metrics);
      break;
    case 'cached':
      parts.push(style.dim(`cached${step.fromRunId ? ` from ${step.fromRunId}` : ''}`));
      if (metrics) parts.push(metrics);
      break;
    case 'failed':
      if (step.durationMs !== undefined) parts.push(formatDuration(step.durationMs));
      if (attempt) parts.push(style.yellow(attempt));
      if (step.error) parts.push(style.red(firstLine(step.error.message)));
      break;
    case 'cancelled':
      parts.push(style.yellow('cancelled'));
      break;
  }
  return `${stepSymbol(step, style, now)} ${padVisible(step.id, idWidth)}  ${parts.join('  ')}`.trimEnd();
}

/** Width of the step-id column: aligned, but one very long matrix id must not push everything off screen. */
export function idColumnWidth(view: RunView): number {
  let width = 0;
  for (const id of view.steps.keys()) width = Math.max(width, [...id].length);
  return Math.min(width, 40);
}
