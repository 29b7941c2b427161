import type { RunEvent } from '@beamline/core';
import { formatDuration } from '@beamline/core';
import type { Style } from './format.js';
import { LiveRegion, type TerminalStream } from './live-region.js';
import type { RunRenderer } from './run-renderer.js';
import { applyRunEvent, isRetrying, stepViews, type RunView, type StepView } from './run-view.js';
import { idColumnWidth, renderStepLine } from './step-line.js';

export interface LiveRendererOptions {
  out: TerminalStream;
  style: Style;
  view: RunView;
  /** Clock, injectable for tests. */
  now?: () => number;
  /** Shortest time between two redraws (ms); 100 keeps it at ~10 frames a second. */
  intervalMs?: number;
}

/**
 * The terminal view of a run: one line per step, redrawn in place. Events only mark the view dirty; a
 * timer draws at most every `intervalMs`, so a step that prints thousands of progress lines costs a
 * few frames, not thousands of writes.
 */
export class LiveRenderer implements RunRenderer {
  readonly view: RunView;
  private readonly region: LiveRegion;
  private readonly style: Style;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private dirty = true;

  constructor(options: LiveRendererOptions) {
    this.view = options.view;
    this.region = new LiveRegion(options.out);
    this.style = options.style;
    this.now = options.now ?? Date.now;
    this.intervalMs = options.intervalMs ?? 100;
  }

  /** Starts the redraw timer (unref'd: it never keeps the process alive). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  event(event: RunEvent): void {
    applyRunEvent(this.view, event);
    this.dirty = true;
  }

  /** Draws when something changed, or while a step runs (its spinner and elapsed time move). */
  tick(): void {
    if (this.dirty || Object.values(this.view.state.steps).some((step) => step.status === 'running'))
      this.draw();
  }

  notice(text: string): void {
    this.region.print(text);
    this.draw();
  }

  finish(summary?: string): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.draw();
    this.region.done();
    if (summary) this.region.print(`\n${summary}`);
  }

  /** The current frame, one string per terminal row (not yet cut to the terminal width). */
  frame(): string[] {
    const now = this.now();
    const all = stepViews(this.view);
    const idWidth = idColumnWidth(all.map((step) => step.id));
    const steps = visibleSteps(all, this.maxStepRows());
    const lines = [this.header(now)];
    for (const step of steps.shown) lines.push(renderStepLine(step, { now, idWidth, style: this.style }));
    if (steps.hidden > 0) lines.push(this.style.dim(`  … ${steps.hidden} more steps`));
    return lines;
  }

  private header(now: number): string {
    const view = this.view;
    const name = view.state.pipeline === '' ? 'pipeline' : view.state.pipeline;
    const id = view.state.id === '' ? '' : this.style.dim(`run ${view.state.id}`);
    const elapsed =
      view.durationMs !== undefined
        ? formatDuration(view.durationMs)
        : view.startedAt !== undefined
          ? formatDuration(Math.max(0, now - view.startedAt))
          : '';
    return [this.style.bold(name), id, elapsed, view.resumed ? this.style.dim('(resumed)') : '']
      .filter((part) => part !== '')
      .join('  ');
  }

  /** Rows available for steps: the cursor cannot move above the top of the screen to redraw. */
  private maxStepRows(): number {
    const rows = this.region.height;
    return rows === undefined ? Number.POSITIVE_INFINITY : Math.max(3, rows - 3);
  }

  private draw(): void {
    this.region.render(this.frame());
    this.dirty = false;
  }
}

/**
 * The steps that fit: everything when there is room, else active and failed steps first (what people
 * watch), then the rest in plan order; the count of the others is shown on one line.
 */
function visibleSteps(steps: StepView[], maxRows: number): { shown: StepView[]; hidden: number } {
  if (steps.length <= maxRows) return { shown: steps, hidden: 0 };
  const budget = Math.max(1, maxRows - 1);
  const priority = (step: StepView): number =>
    step.state.status === 'running' || isRetrying(step) ? 0 : step.state.status === 'failed' ? 1 : 2;
  const chosen = new Set(
    [...steps]
      .map((step, index) => ({ step, index }))
      .sort((a, b) => priority(a.step) - priority(b.step) || a.index - b.index)
      .slice(0, budget)
      .map(({ step }) => step),
  );
  return { shown: steps.filter((step) => chosen.has(step)), hidden: steps.length - chosen.size };
}
