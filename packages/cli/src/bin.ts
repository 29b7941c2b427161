import { constants } from 'node:os';
import type { CliIO } from './cli-io.js';
import { main } from './main.js';

const controller = new AbortController();
let interrupted = false;

// The first Ctrl-C (or SIGTERM) asks the running command to cancel cleanly; a second one is the user
// insisting, so the process ends at once with the conventional 128 + signal number.
function onSignal(signal: 'SIGINT' | 'SIGTERM'): void {
  if (interrupted) process.exit(128 + constants.signals[signal]);
  interrupted = true;
  controller.abort(new Error(`received ${signal}`));
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

// `beamline runs --json | head -1`: the reader went away. Stop like on Ctrl-C (a run is cancelled
// cleanly) instead of crashing on the unhandled stream error, and ignore the writes still to come.
let stdoutClosed = false;
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE' && !stdoutClosed) throw error;
  if (!stdoutClosed && !interrupted) {
    interrupted = true;
    controller.abort(new Error('stdout closed'));
  }
  stdoutClosed = true;
});

const io: CliIO = {
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
  env: process.env,
  signal: controller.signal,
};

process.exitCode = await main(process.argv.slice(2), io);
