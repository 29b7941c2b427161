import type { RunEvent } from '@beamline/core';
import type { RunView } from './run-view.js';

/** Shows a run's events as they arrive; one implementation per output mode. */
export interface RunRenderer {
  /** The model the renderer folds events into (the summary is rendered from it). */
  readonly view: RunView;
  event(event: RunEvent): void;
  /** A message for people (`Cancelling…`), kept apart from the event output. */
  notice(text: string): void;
  /** Stops timers and draws the final state; `summary` (if any) is written after it. */
  finish(summary?: string): void;
}
