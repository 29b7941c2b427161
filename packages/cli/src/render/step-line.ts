import { formatDuration } from '@beamline/core';
import {
  formatMetrics,
  formatNumber,
  oneLine,
  padVisible,
  progressBar,
  textWidth,
  type Style,
} from './format.js';
import { isRetrying, stepDuration, type StepView } from './run-view.js';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** The status symbol of a step; running steps spin with time so a stuck terminal is visible as such. */
function stepSymbol(step: StepView, style: Style, now: number): string {
  if (isRetrying(step)) return style.yellow('↻');
  switch (step.state.status) {
    case 'pending':
      return style.dim('·');
    case 'queued':
      return style.dim('○');
    case 'running':
      return style.cyan(SPINNER[Math.floor(now / 100) % SPINNER.length] ?? '•');
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

/** First line of a message, safe for a one-row status line. */
export function firstLine(text: string): string {
  return oneLine(text.split('\n', 1)[0] ?? '');
}

/** One live status line of a step (not yet cut to the terminal width). */
export function renderStepLine(
  step: StepView,
  options: { now: number; idWidth: number; style: Style },
): string {
  const { now, idWidth, style } = options;
  const { state, display } = step;
  const parts: string[] = [];
  const attempt = state.attempt > 1 ? `attempt ${state.attempt}` : undefined;
  const metrics = display.metrics.size > 0 ? oneLine(formatMetrics(display.metrics)) : undefined;
  const duration = stepDuration(state);
  if (isRetrying(step)) {
    parts.push(style.yellow(`retrying in ${formatDuration(display.retryDelayMs ?? 0)}`));
    if (state.error) parts.push(style.dim(`attempt ${state.attempt}: ${firstLine(state.error.message)}`));
  } else {
    switch (state.status) {
      case 'pending':
        parts.push(style.dim('waiting'));
        break;
      case 'queued':
        parts.push(style.dim('queued'));
        break;
      case 'running': {
        const progress = display.progress;
        if (progress?.total !== undefined) {
          parts.push(
            `${style.cyan(progressBar(progress.current, progress.total))} ${formatNumber(progress.current)}/${formatNumber(progress.total)}`,
          );
        } else if (progress) {
          parts.push(formatNumber(progress.current));
        }
        if (progress?.message) parts.push(style.dim(oneLine(progress.message)));
        if (attempt) parts.push(style.yellow(attempt));
        if (state.startedAt !== undefined) parts.push(formatDuration(Math.max(0, now - state.startedAt)));
        if (display.gpus.length > 0) parts.push(style.dim(`gpu ${display.gpus.join(',')}`));
        if (metrics) parts.push(metrics);
        break;
      }
      case 'succeeded':
        if (duration !== undefined) parts.push(formatDuration(duration));
        if (attempt) parts.push(style.yellow(attempt));
        if (metrics) parts.push(metrics);
        break;
      case 'cached':
        parts.push(style.dim(`cached${state.fromRunId ? ` from ${state.fromRunId}` : ''}`));
        if (metrics) parts.push(metrics);
        break;
      case 'failed':
        if (duration !== undefined) parts.push(formatDuration(duration));
        if (attempt) parts.push(style.yellow(attempt));
        if (state.error) parts.push(style.red(firstLine(state.error.message)));
        break;
      case 'cancelled':
        parts.push(style.yellow('cancelled'));
        break;
    }
  }
  return `${stepSymbol(step, style, now)} ${padVisible(oneLine(step.id), idWidth)}  ${parts.join('  ')}`.trimEnd();
}

/** Width of the step-id column: aligned, but one very long matrix id must not push everything off screen. */
export function idColumnWidth(ids: Iterable<string>): number {
  let width = 0;
  for (const id of ids) width = Math.max(width, textWidth(oneLine(id)));
  return Math.min(width, 40);
}
