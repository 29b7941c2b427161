import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { BeamlineError, isRetryable } from './beamline-error.js';

/** A real system error from Node, not a hand-made imitation. */
async function systemError(run: () => Promise<unknown>): Promise<Error> {
  return run().then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error as Error,
  );
}

describe('isRetryable', () => {
  it('takes a Beamline error at its word', () => {
    expect(isRetryable(new BeamlineError('X_TRANSIENT', 'x', { retryable: true }))).toBe(true);
    expect(isRetryable(new BeamlineError('X_FINAL', 'x'))).toBe(false);
  });

  it('judges real Node system errors by their code', async () => {
    const missing = await systemError(() => readFile('/nonexistent/beamline-test'));
    expect((missing as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect(isRetryable(missing)).toBe(false);
    const directory = await systemError(() => readFile('/'));
    expect((directory as NodeJS.ErrnoException).code).toBe('EISDIR');
    expect(isRetryable(directory)).toBe(false);
    // Port 1 on loopback: nothing listens there, so the connection is refused.
    const refused = await systemError(
      () =>
        new Promise((resolve, reject) => {
          const socket = connect(1, '127.0.0.1', () => resolve(socket.destroy()));
          socket.on('error', reject);
        }),
    );
    expect((refused as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(isRetryable(refused)).toBe(true);
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' });
    expect(isRetryable(reset)).toBe(true);
    expect(isRetryable(Object.assign(new Error('x'), { code: 'EAI_AGAIN' }))).toBe(true);
    expect(isRetryable(Object.assign(new Error('x'), { code: 'EACCES' }))).toBe(false);
  });

  it('treats bugs and bad arguments as final, unless they wrap a cause', async () => {
    expect(isRetryable(new TypeError('x is not a function'))).toBe(false);
    expect(isRetryable(new RangeError('bad'))).toBe(false);
    const badArgument = await systemError(() => readFile(42 as unknown as string));
    expect((badArgument as NodeJS.ErrnoException).code).toMatch(/^ERR_/);
    expect(isRetryable(badArgument)).toBe(false);
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(isRetryable(new TypeError('fetch failed', { cause: reset }))).toBe(true);
  });

  it('does not retry an abort, retries a timeout and anything unknown', () => {
    expect(isRetryable(new DOMException('stop', 'AbortError'))).toBe(false);
    expect(isRetryable(new DOMException('too slow', 'TimeoutError'))).toBe(true);
    expect(isRetryable(new Error('something odd'))).toBe(true);
    expect(isRetryable('a string')).toBe(true);
  });

  it('does not loop on a cause chain that refers to itself', () => {
    const error = new TypeError('loop');
    (error as { cause?: unknown }).cause = error;
    expect(isRetryable(error)).toBe(false);
  });
});
