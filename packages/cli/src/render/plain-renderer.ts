import type { Writable } from 'node:stream';
import { formatBytes, formatDuration, type RunEvent } from '@beamline/core';
import { displayPath, formatNumber } from './format.js';
import type { RunRenderer } from './run-renderer.js';
import { applyRunEvent, isShownAsEvent, type RunView } from './run-view.js';
import { firstLine } from './step-line.js';

/**
 * One line of text per event, for logs and pipes (CI, `| tee`): nothing is redrawn, so the output reads
 * the same in a file as it did live.
 */
export class PlainRenderer implements RunRenderer {
  readonly view: RunView;

  constructor(
    private readonly out: Writable,
    view: RunView,
    private readonly cwd: string,
  ) {
    this.view = view;
  }

  event(event: RunEvent): void {
    applyRunEvent(this.view, event);
    const text = formatEventLine(event, this.cwd);
    if (text !== undefined) this.out.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  notice(text: string): void {
    this.out.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  finish(summary?: string): void {
    if (summary) this.out.write(`\n${summary}`);
  }
}

/** The plain-text line(s) of an event; log text keeps its own lines, each prefixed with the step id. */
function formatEventLine(event: RunEvent, cwd: string): string | undefined {
  switch (event.type) {
    case 'run-started':
      return `run ${event.runId} ${event.resumed ? 'resumed' : 'started'}: ${event.pipeline}`;
    case 'run-succeeded':
      return `run ${event.runId} succeeded in ${formatDuration(event.durationMs)}`;
    case 'run-failed':
      return `run ${event.runId} failed after ${formatDuration(event.durationMs)}: ${event.error.message}`;
    case 'run-cancelled':
      return `run ${event.runId} cancelled after ${formatDuration(event.durationMs)}: ${event.reason}`;
    case 'queued':
      return `${event.stepId} queued`;
    case 'started': {
      const gpus = event.resources.gpus.length > 0 ? `, gpu ${event.resources.gpus.join(',')}` : '';
      return `${event.stepId} started (attempt ${event.attempt}${gpus})`;
    }
    case 'process':
      // Where the step's processes run (for recovery after a crash): nothing people need to read.
      return undefined;
    case 'progress': {
      const amount =
        event.total === undefined
          ? formatNumber(event.current)
          : `${formatNumber(event.current)}/${formatNumber(event.total)}`;
      return `${event.stepId} progress ${amount}${event.message ? ` ${event.message}` : ''}`;
    }
    case 'log': {
      const marker = event.stream === 'stdout' ? '|' : event.stream === 'stderr' ? '!' : '#';
      const text = event.text.endsWith('\n') ? event.text.slice(0, -1) : event.text;
      const lines = text.split('\n').filter((line) => !isShownAsEvent(line));
      return lines.length === 0
        ? undefined
        : lines.map((line) => `${event.stepId} ${marker} ${line}`).join('\n');
    }
    case 'metric':
      return `${event.stepId} metric ${event.name}=${formatNumber(event.value)}${event.step === undefined ? '' : ` (step ${event.step})`}`;
    case 'artifact':
      return `${event.stepId} artifact ${event.artifact.name}: ${displayPath(event.artifact.path, cwd)} (${formatBytes(event.artifact.size)})`;
    case 'retrying':
      return `${event.stepId} attempt ${event.attempt} failed, retrying in ${formatDuration(event.delayMs)}: ${firstLine(event.error.message)}`;
    case 'succeeded':
      return `${event.stepId} succeeded in ${formatDuration(event.durationMs)}`;
    case 'failed':
      return `${event.stepId} failed (attempt ${event.attempt}, ${formatDuration(event.durationMs)}): ${event.error.code}: ${event.error.message}`;
    case 'cached':
      return `${event.stepId} cached (result of run ${event.fromRunId})`;
    case 'cancelled':
      return `${event.stepId} cancelled: ${event.reason}`;
  }
}
