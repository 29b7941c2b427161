import type { RunHandle, Store } from '@beamline/core';
import { ExitCode, type CliIO } from '../cli-io.js';
import { colourEnabled, createStyle } from '../render/format.js';
import { JsonRenderer } from '../render/json-renderer.js';
import { LiveRenderer } from '../render/live-renderer.js';
import { PlainRenderer } from '../render/plain-renderer.js';
import type { RunRenderer } from '../render/run-renderer.js';
import { completeView, createRunView, type RunView } from '../render/run-view.js';
import { renderSummary } from '../render/summary.js';
import { latestMetrics } from './metrics.js';

/** How a run is shown: `--json` lines, a live terminal view, or one plain line per event. */
type OutputMode = 'json' | 'live' | 'plain';

/** The mode for a stream: live only on a terminal, so pipes and CI logs get plain text. */
export function outputMode(io: CliIO, json: boolean): OutputMode {
  if (json) return 'json';
  return io.stdout.isTTY === true ? 'live' : 'plain';
}

/** The message shown on the first Ctrl-C; `bin.ts` exits at once on the second. */
export const CANCELLING_NOTICE = 'Cancelling the run… (press Ctrl-C again to quit at once)';

/**
 * Shows a started run until it ends and returns the exit code: 0 when it succeeded, 1 when it failed
 * or was cancelled. An abort of `io.signal` (Ctrl-C) cancels the run and waits for it to stop, so
 * processes are not left behind and the store records why it ended.
 */
export async function followRun(
  handle: RunHandle,
  store: Store,
  io: CliIO,
  options: { json: boolean },
): Promise<ExitCode> {
  const mode = outputMode(io, options.json);
  const record = await store.getRun(handle.id);
  const renderer = createRenderer(mode, io, createRunView(record));
  const onAbort = (): void => {
    renderer.notice(CANCELLING_NOTICE);
    handle.cancel('interrupted');
  };
  if (io.signal.aborted) onAbort();
  else io.signal.addEventListener('abort', onAbort, { once: true });

  let summary: string | undefined;
  try {
    const [, result] = await Promise.all([drain(handle, renderer), handle.done]);
    if (mode !== 'json') {
      await fillCachedMetrics(renderer.view, store);
      summary = renderSummary(completeView(renderer.view, result), result, {
        cwd: io.cwd,
        style: createStyle(mode === 'live' && colourEnabled(io.stdout.isTTY, io.env)),
      });
    }
    return result.status === 'succeeded' ? ExitCode.ok : ExitCode.failed;
  } finally {
    io.signal.removeEventListener('abort', onAbort);
    renderer.finish(summary);
  }
}

/** The renderer of a mode, started. */
export function createRenderer(mode: OutputMode, io: CliIO, view: RunView): RunRenderer {
  switch (mode) {
    case 'json':
      return new JsonRenderer(io.stdout, io.stderr, view);
    case 'plain':
      return new PlainRenderer(io.stdout, view, io.cwd);
    case 'live': {
      const renderer = new LiveRenderer({
        out: io.stdout,
        view,
        style: createStyle(colourEnabled(io.stdout.isTTY, io.env)),
      });
      renderer.start();
      return renderer;
    }
  }
}

/** Feeds every event to the renderer; resolves when the stream completes (the run ended). */
function drain(handle: RunHandle, renderer: RunRenderer): Promise<void> {
  return new Promise((resolve, reject) => {
    handle.events$.subscribe({ next: (event) => renderer.event(event), error: reject, complete: resolve });
  });
}

/**
 * A cached step emits no metrics in this run; the run that computed the result recorded them, so the
 * summary shows those (a second run of a pipeline should read the same as the first).
 */
export async function fillCachedMetrics(view: RunView, store: Store): Promise<void> {
  for (const step of Object.values(view.state.steps)) {
    if (step.status !== 'cached' || step.fromRunId === undefined || view.display.has(step.stepId)) continue;
    const metrics = await latestMetrics(store, step.fromRunId, step.stepId);
    if (metrics.size > 0) view.display.set(step.stepId, { metrics, gpus: [], tail: [] });
  }
}
