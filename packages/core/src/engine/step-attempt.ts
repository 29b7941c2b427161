import type { Observable, Subscription } from 'rxjs';
import type { Artifact } from '../contracts/artifact.js';
import type { StepEvent, StepOutputs } from '../contracts/command.js';
import { CoreError } from '../errors/core-error.js';
import { toError } from '../util/error-info.js';
import type { RunEventLog } from './run-event-log.js';

/** What a step's successful attempt produced. */
export interface AttemptResult {
  outputs: StepOutputs;
  artifacts: Artifact[];
}

/** What one attempt of a step needs from its run. */
export interface AttemptSetup {
  stepId: string;
  attempt: number;
  /** The step's timeout; none when undefined. */
  timeoutMs: number | undefined;
  /** The run's signal: its abort (cancellation, a store failure) stops the attempt with its reason. */
  runSignal: AbortSignal;
  /** How long a stopped command may take to end by itself before it is cut off (unsubscribed). */
  stopGraceMs: number;
  /** Where the command's events are recorded. */
  log: RunEventLog;
  /** Starts the command with the attempt's signal (subscribing to the stream starts the work). */
  execute: (signal: AbortSignal) => Observable<StepEvent>;
}

/**
 * One attempt of a step: the command's stream, bounded by the step's timeout and the run's
 * cancellation. A stop aborts the attempt's signal (the command stops its work: SIGTERM, grace,
 * SIGKILL) and waits for the stream to end; a command that has not ended `stopGraceMs` after it is cut
 * off. Once aborted, the abort's reason (timeout, cancellation) is the attempt's error, whatever the
 * command says.
 *
 * The attempt's signal is the run's own when the step has no timeout: only the run can stop such an
 * attempt. An `AbortSignal` of its own would cost more than it seems: in Node 20 every signal gets a hidden
 * class of its own and outlives young-generation collections (measured: 0.4 KB of old generation per
 * attempt, 40 MB over a 100,000-step run). The run tells its running attempts that it stopped
 * ({@link RunningAttempts}); an attempt adds no listener to the run's signal.
 */
export class StepAttempt {
  /** The attempt's own signal, for a step with a timeout. */
  readonly #controller: AbortController | undefined;
  readonly #result: AttemptResult = { outputs: {}, artifacts: [] };
  #subscription: Subscription | undefined;
  #fail: ((error: unknown) => void) | undefined;
  #ended = false;
  #timeout: NodeJS.Timeout | undefined;
  #hardStop: NodeJS.Timeout | undefined;

  constructor(private readonly setup: AttemptSetup) {
    if (setup.timeoutMs !== undefined) this.#controller = new AbortController();
  }

  /** What the command is given: the attempt's own signal, or the run's. */
  get signal(): AbortSignal {
    return this.#controller?.signal ?? this.setup.runSignal;
  }

  /** Runs the attempt; resolves with what it produced, rejects with why it did not succeed. */
  run(): Promise<AttemptResult> {
    const { runSignal } = this.setup;
    // A listener of the `started` event may already have cancelled the run.
    if (runSignal.aborted) return Promise.reject(runSignal.reason as Error);
    const signal = this.signal;
    this.#startTimeout();
    return new Promise<AttemptResult>((resolve, reject) => {
      const fail = (error: unknown): void =>
        reject(signal.aborted ? (signal.reason as Error) : toError(error));
      this.#fail = fail;
      this.#subscription = this.setup.execute(signal).subscribe({
        next: (event) => this.#record(event),
        error: fail,
        complete: () => (signal.aborted ? fail(undefined) : resolve(this.#result)),
      });
    }).finally(() => {
      this.#ended = true;
      if (this.#timeout) clearTimeout(this.#timeout);
      if (this.#hardStop) clearTimeout(this.#hardStop);
      this.#subscription?.unsubscribe();
    });
  }

  /**
   * The run stopped (its signal is aborted with `reason`): aborts the attempt's own signal, if it has one,
   * and cuts the command off if it has not ended within the grace period.
   */
  stop(reason: unknown): void {
    if (this.#ended) return;
    this.#controller?.abort(reason);
    this.#cutOffAfterGrace();
  }

  #startTimeout(): void {
    const { stepId, timeoutMs } = this.setup;
    const controller = this.#controller;
    if (timeoutMs === undefined || controller === undefined) return;
    this.#timeout = setTimeout(() => {
      controller.abort(
        new CoreError('CORE_TIMEOUT', `Step "${stepId}" exceeded its timeout of ${timeoutMs} ms.`, {
          retryable: true,
          details: { stepId, timeoutMs },
        }),
      );
      this.#cutOffAfterGrace();
    }, timeoutMs);
  }

  /** The command should end by itself once its processes are gone; if it does not, cut it off. */
  #cutOffAfterGrace(): void {
    this.#hardStop ??= setTimeout(() => {
      this.#subscription?.unsubscribe();
      this.#fail?.(undefined);
    }, this.setup.stopGraceMs);
  }

  /** Keeps the outputs and artifacts, and records what the step says as run events. */
  #record(event: StepEvent): void {
    const { stepId, attempt, log } = this.setup;
    switch (event.type) {
      case 'outputs':
        this.#result.outputs = { ...this.#result.outputs, ...event.outputs };
        return;
      case 'artifact':
        this.#result.artifacts.push(event.artifact);
        log.emit({ type: 'artifact', stepId, attempt, artifact: event.artifact });
        return;
      case 'log':
        log.emit({ type: 'log', stepId, attempt, stream: event.stream, text: event.text });
        return;
      case 'metric':
        log.emit({
          type: 'metric',
          stepId,
          attempt,
          name: event.name,
          value: event.value,
          ...(event.step === undefined ? {} : { step: event.step }),
        });
        return;
      case 'progress':
        log.emit({
          type: 'progress',
          stepId,
          attempt,
          current: event.current,
          ...(event.total === undefined ? {} : { total: event.total }),
          ...(event.message === undefined ? {} : { message: event.message }),
        });
        return;
    }
  }
}

/**
 * The attempts of a run that are running now, so that the run's one abort listener can stop them. A linked
 * list whose removed entries are unlinked and cleared: a listener per attempt on the run's long-lived signal
 * would leave removed list entries in V8's old generation that still point at later attempts, which young-
 * generation collections then keep alive one after the other.
 */
export class RunningAttempts {
  #first: RunningAttempt | undefined;

  /** Adds an attempt; pass what it returns to {@link remove} once the attempt ended. */
  add(attempt: StepAttempt): RunningAttempt {
    const entry: RunningAttempt = { attempt, previous: undefined, next: this.#first };
    if (this.#first) this.#first.previous = entry;
    this.#first = entry;
    return entry;
  }

  remove(entry: RunningAttempt): void {
    if (entry.previous) entry.previous.next = entry.next;
    else if (this.#first === entry) this.#first = entry.next;
    if (entry.next) entry.next.previous = entry.previous;
    entry.previous = undefined;
    entry.next = undefined;
  }

  /** Stops every running attempt (see {@link StepAttempt.stop}). */
  stopAll(reason: unknown): void {
    for (let entry = this.#first; entry !== undefined;) {
      const next = entry.next;
      entry.attempt.stop(reason);
      entry = next;
    }
  }
}

/** An entry of {@link RunningAttempts}. */
export interface RunningAttempt {
  readonly attempt: StepAttempt;
  previous: RunningAttempt | undefined;
  next: RunningAttempt | undefined;
}
