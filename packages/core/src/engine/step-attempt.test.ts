import { getEventListeners } from 'node:events';
import { Observable, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { RunEventLog } from './run-event-log.js';
import { StepAttempt } from './step-attempt.js';

describe('StepAttempt', () => {
  const log = { emit: () => undefined } as unknown as RunEventLog;

  it('gives a step without a timeout the run signal and leaves no listener on it', async () => {
    const run = new AbortController();
    let seen: AbortSignal | undefined;
    const attempt = new StepAttempt({
      stepId: 's',
      attempt: 1,
      timeoutMs: undefined,
      runSignal: run.signal,
      stopGraceMs: 1000,
      log,
      execute: (signal) => {
        seen = signal;
        return of({ type: 'outputs', outputs: { ok: true } });
      },
    });
    await expect(attempt.run()).resolves.toEqual({ outputs: { ok: true }, artifacts: [] });
    expect(seen).toBe(run.signal);
    expect(getEventListeners(run.signal, 'abort')).toEqual([]);
  });

  it('gives a step with a timeout a signal of its own that the run still aborts', async () => {
    const run = new AbortController();
    let seen: AbortSignal | undefined;
    const attempt = new StepAttempt({
      stepId: 's',
      attempt: 1,
      timeoutMs: 60_000,
      runSignal: run.signal,
      stopGraceMs: 1000,
      log,
      execute: (signal) => {
        seen = signal;
        return new Observable<never>((subscriber) => {
          signal.addEventListener('abort', () => subscriber.error(signal.reason), { once: true });
        });
      },
    });
    const outcome = attempt.run();
    expect(seen).not.toBe(run.signal);
    run.abort(new Error('cancelled'));
    expect(seen?.aborted).toBe(true);
    await expect(outcome).rejects.toThrow('cancelled');
    expect(getEventListeners(run.signal, 'abort')).toEqual([]);
  });
});
