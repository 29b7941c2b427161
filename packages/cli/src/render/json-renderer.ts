import type { Writable } from 'node:stream';
import type { RunEvent } from '@beamline/core';
import type { RunRenderer } from './run-renderer.js';
import { applyRunEvent, type RunView } from './run-view.js';

/**
 * `--json`: exactly one JSON object per line per event on stdout, and nothing else there, so the
 * output can be piped into `jq` or parsed line by line. Notices go to stderr.
 */
export class JsonRenderer implements RunRenderer {
  readonly view: RunView;

  constructor(
    private readonly out: Writable,
    private readonly err: Writable,
    view: RunView,
  ) {
    this.view = view;
  }

  event(event: RunEvent): void {
    applyRunEvent(this.view, event);
    this.out.write(`${JSON.stringify(event)}\n`);
  }

  notice(text: string): void {
    this.err.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  finish(): void {
    // The events are the whole output; the summary is for people.
  }
}
