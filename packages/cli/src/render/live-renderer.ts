import type { Writable } from 'node:stream';
import type { RunEvent } from '@beamline/core';
import { formatDuration, truncateVisible, type Style } from './format.js';
import type { RunRenderer } from './run-renderer.js';
import { applyRunEvent, type RunView, type StepView } from './run-view.js';
import { idColumnWidth, renderStepLine } from './step-line.js';

/** A terminal stream: `columns` and `rows` are set by Node on a TTY. */
export type TerminalStream = Writable & { columns?: number; rows?: number };

export interface LiveRendererOptions {
  out: TerminalStream;
  style: Style;
  view: RunView;
  /** Clock, injectable for tests. */
  now?: () => number;
  /** Shortest time between two redraws (ms); 100 keeps it at ~10 frames a second. */
  intervalMs?: number;
}

const ACTIVE = new Set<StepView['status']>(['running', 'retrying']);

/**
 * The terminal view of a run: one line per step, redrawn in place. Events only mark the view dirty; a
 * timer draws at most every `intervalMs`, so a step that prints thousands of progress lines costs a
 * few frames, not thousands of writes.
 */
export class LiveRenderer implements RunRenderer {
  readonly view: RunView;
  private readonly out: TerminalStream;
  private readonly style: Style;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private dirty = true;
  /** Rows the last frame occupies, to move the cursor back over them. */
  private drawnLines = 0;

  constructor(options: LiveRendererOptions) {
    this.view = options.view;
    this.out = options.out;
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
    if (this.dirty || [...this.view.steps.values()].some((step) => ACTIVE.has(step.status))) this.draw();
  }

  notice(text: string): void {
    this.out.write(`${this.erase()}${text.endsWith('\n') ? text : `${text}\n`}`);
    this.drawnLines = 0;
    this.draw();
  }

  finish(summary?: string): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.draw();
    if (summary) this.out.write(`\n${summary}`);
  }

  /** The current frame, one string per terminal row. */
  frame(): string[] {
    const now = this.now();
    const width = Math.max(20, (this.out.columns ?? 80) - 1);
    const idWidth = idColumnWidth(this.view);
    const steps = visibleSteps([...this.view.steps.values()], this.maxStepRows());
    const lines = [this.header(now)];
    for (const step of steps.shown) lines.push(renderStepLine(step, { now, idWidth, style: this.style }));
    if (steps.hidden > 0) lines.push(this.style.dim(`  … ${steps.hidden} more steps`));
    return lines.map((line) => truncateVisible(line, width));
  }

  private header(now: number): string {
    const view = this.view;
    const name = view.pipeline ?? 'pipeline';
    const id = view.runId ? this.style.dim(`run ${view.runId}`) : '';
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
    const rows = this.out.rows;
    return rows === undefined || rows <= 0 ? Number.POSITIVE_INFINITY : Math.max(3, rows - 3);
  }

  private draw(): void {
    const lines = this.frame();
    // Move to the first row of the previous frame, rewrite each row, clear what a longer frame left.
    const body = lines.map((line) => `${line}\x1b[K\n`).join('');
    this.out.write(`${this.erase(false)}${body}\x1b[J`);
    this.drawnLines = lines.length;
    this.dirty = false;
  }

  /** Cursor movement back to the top of the drawn frame; with `clear`, the frame is wiped too. */
  private erase(clear = true): string {
    if (this.drawnLines === 0) return '';
    return `\x1b[${this.drawnLines}A\r${clear ? '\x1b[J' : ''}`;
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
    ACTIVE.has(step.status) ? 0 : step.status === 'failed' ? 1 : 2;
  const chosen = new Set(
    [...steps]
      .map((step, index) => ({ step, index }))
      .sort((a, b) => priority(a.step) - priority(b.step) || a.index - b.index)
      .slice(0, budget)
      .map(({ step }) => step),
  );
  return { shown: steps.filter((step) => chosen.has(step)), hidden: steps.length - chosen.size };
}
