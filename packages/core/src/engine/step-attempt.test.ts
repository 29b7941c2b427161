import { getEventListeners } from 'node:events';
import { NEVER, Observable, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { RunEventLog } from './run-event-log.js';
import { RunningAttempts, StepAttempt } from './step-attempt.js';

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

  it('gives a step with a timeout a signal of its own, which a stop of the run aborts', async () => {
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
    const running = new RunningAttempts();
    running.add(attempt);
    const outcome = attempt.run();
    expect(seen).not.toBe(run.signal);
    run.abort(new Error('cancelled'));
    running.stopAll(run.signal.reason);
    expect(seen?.aborted).toBe(true);
    await expect(outcome).rejects.toThrow('cancelled');
    expect(getEventListeners(run.signal, 'abort')).toEqual([]);
  });

  it('cuts off a command that ignores the stop once the grace period is over', async () => {
    const run = new AbortController();
    const running = new RunningAttempts();
    const attempt = new StepAttempt({
      stepId: 's',
      attempt: 1,
      timeoutMs: undefined,
      runSignal: run.signal,
      stopGraceMs: 20,
      log,
      execute: () => NEVER,
    });
    const entry = running.add(attempt);
    const outcome = attempt.run();
    run.abort(new Error('cancelled'));
    running.stopAll(run.signal.reason);
    await expect(outcome).rejects.toThrow('cancelled');
    running.remove(entry);
    // Stopped again once it ended: nothing is left to do, no timer keeps the process alive.
    attempt.stop(new Error('late'));
  });
});

describe('RunningAttempts', () => {
  it('stops the attempts still listed, and none that was removed', () => {
    const stopped: string[] = [];
    const fake = (name: string) => ({ stop: () => stopped.push(name) }) as unknown as StepAttempt;
    const running = new RunningAttempts();
    const a = running.add(fake('a'));
    running.add(fake('b'));
    const c = running.add(fake('c'));
    running.remove(a);
    running.remove(c);
    running.remove(c);
    running.add(fake('d'));
    running.stopAll(new Error('stop'));
    expect(stopped.sort()).toEqual(['b', 'd']);
  });
});
