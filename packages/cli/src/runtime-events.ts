import { escapeText, type Runtime } from '@beamline/core';
import type { CliIO } from './cli-io.js';

/**
 * Prints the runtime's warnings and errors on stderr as they happen (start-up reports included: the
 * runtime replays its recent events): a leftover process stopped before a resume, a damaged log file,
 * a janitor that could not reach the engine. Information-level events stay quiet unless
 * `BEAMLINE_DEBUG` is set. Returns the runtime, for chaining after `createRuntime`.
 */
export function reportRuntimeEvents(runtime: Runtime, io: CliIO): Runtime {
  const verbose = Boolean(io.env.BEAMLINE_DEBUG);
  runtime.events$.subscribe((event) => {
    if (!verbose && event.level !== 'warning' && event.level !== 'error') return;
    io.stderr.write(`beamline: ${event.level} (${event.source}): ${escapeText(event.message)}\n`);
  });
  return runtime;
}
