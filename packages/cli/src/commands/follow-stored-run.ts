import { setTimeout as sleep } from 'node:timers/promises';
import { RUN_TERMINAL_TYPES, type RunResult, type RunState, type Store } from '@beamline/core';
import { ExitCode, type CliIO } from '../cli-io.js';
import { colourEnabled, createStyle } from '../render/format.js';
import { completeView, createRunView } from '../render/run-view.js';
import { renderSummary } from '../render/summary.js';
import { createRenderer, fillCachedMetrics, outputMode } from './follow-run.js';

/** How often a followed run's store is read for new events (the run's engine is another process). */
const FOLLOW_POLL_MS = 250;

/** Every how many looks the run's state is read too (about every 2 s). */
const STATE_EVERY = 8;

/**
 * `beamline show --follow`: shows a run that another process drives (`beamline run`, on this machine or,
 * with a shared store, another one) as `run` shows its own: every recorded event from the first, then
 * new ones as they are recorded, in `seq` order, each exactly once (the store's log is gapless and read
 * after the last `seq` shown), then the summary. Ctrl-C stops following, not the run. Returns 0 when the
 * run succeeded, 1 when it failed, was cancelled, its engine is gone, or following was stopped.
 */
export async function followStoredRun(
  store: Store,
  runId: string,
  io: CliIO,
  options: { json: boolean },
): Promise<ExitCode> {
  const mode = outputMode(io, options.json);
  const renderer = createRenderer(mode, io, createRunView(await store.getRun(runId)));
  let summary: string | undefined;
  try {
    let afterSeq = 0;
    let ended = false;
    for (let poll = 0; ; poll++) {
      // The run's state on the first look, every few seconds (an engine that died leaves it `running`
      // for ever) and once its last event came; read before the events, so that when it is final, the
      // events read next include the last one. In between, a look is one read of new events.
      const state = ended || poll % STATE_EVERY === 0 ? await store.runState(runId) : undefined;
      for await (const event of store.readEvents(runId, { afterSeq })) {
        afterSeq = event.seq;
        renderer.event(event);
        if ((RUN_TERMINAL_TYPES as readonly string[]).includes(event.type)) ended = true;
      }
      if (state !== undefined && state.status !== 'running') {
        if (mode !== 'json') {
          const result = resultOf(state);
          await fillCachedMetrics(renderer.view, store);
          summary = renderSummary(completeView(renderer.view, result), result, {
            cwd: io.cwd,
            style: createStyle(mode === 'live' && colourEnabled(io.stdout.isTTY, io.env)),
          });
        }
        return state.status === 'succeeded' ? ExitCode.ok : ExitCode.failed;
      }
      // Its last event came: read the final state at once (once; a store that still said `running`
      // would be read again at the poll's pace).
      if (ended && state === undefined) continue;
      if (state?.interrupted === true) {
        renderer.notice(
          `Run ${runId} is interrupted: its engine is gone (killed or crashed); continue it with 'beamline resume ${runId}'`,
        );
        return ExitCode.failed;
      }
      if (io.signal.aborted) {
        renderer.notice(`Stopped following run ${runId}; it goes on.`);
        return ExitCode.failed;
      }
      await sleep(FOLLOW_POLL_MS, undefined, { signal: io.signal }).catch(() => undefined);
    }
  } finally {
    renderer.finish(summary);
  }
}

/** What `run` would have returned for a run that ended, from its stored state. */
function resultOf(state: RunState): RunResult {
  return {
    runId: state.id,
    status: state.status === 'running' ? 'failed' : state.status,
    steps: state.steps,
    ...(state.error === undefined ? {} : { error: state.error }),
    durationMs: Math.max(0, state.updatedAt - state.createdAt),
  };
}
