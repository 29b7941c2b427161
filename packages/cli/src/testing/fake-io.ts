import { Writable } from 'node:stream';
import type { CliIO } from '../cli-io.js';

/** A writable that keeps what was written, with the TTY properties a test chooses. */
export class CaptureStream extends Writable {
  text = '';
  isTTY?: boolean;
  columns?: number;
  rows?: number;

  override _write(
    chunk: Buffer | string,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    this.text += chunk.toString();
    callback();
  }
}

/** A `CliIO` for tests: captured streams, an abort controller standing in for Ctrl-C. */
export interface FakeIO extends CliIO {
  readonly stdout: CaptureStream;
  readonly stderr: CaptureStream;
  readonly controller: AbortController;
}

/** Builds a fake `CliIO` (not a terminal unless `tty` is set). */
export function createFakeIO(
  options: { cwd?: string; tty?: boolean; columns?: number; env?: NodeJS.ProcessEnv } = {},
): FakeIO {
  const stdout = new CaptureStream();
  if (options.tty) {
    stdout.isTTY = true;
    stdout.columns = options.columns ?? 100;
  }
  const controller = new AbortController();
  return {
    stdout,
    stderr: new CaptureStream(),
    cwd: options.cwd ?? process.cwd(),
    env: options.env ?? {},
    signal: controller.signal,
    controller,
  };
}
