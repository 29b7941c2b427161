import {
  inject,
  injectable,
  Tokens,
  type Clock,
  type EventSink,
  type RunEvent,
  type RunHandle,
} from '@beamline/core';
import type { Subscription } from 'rxjs';
import { ChatError } from '../errors/chat-error.js';
import { ChatSettingsToken, WebhookClientToken } from '../tokens.js';
import type { ChatSettings } from '../webhook/chat-settings.js';
import type { WebhookClient } from '../webhook/webhook-client.js';
import {
  cancelledMessage,
  failureMessage,
  longStepMessage,
  successMessage,
  type FailedStep,
  type RunSummaryText,
} from './format-message.js';

/** Source of the runtime events (warnings) the notifier emits. */
export const NOTIFIER_SOURCE = 'chat.notifier';

/** How long `close()` waits for watched runs to end and messages to go out before it aborts them (ms). */
const CLOSE_GRACE_MS = 10_000;

type StepEnd = 'succeeded' | 'cached' | 'failed' | 'cancelled';

/**
 * Posts a run's outcome (success, failure with its failed steps, cancellation) and steps that run
 * longer than `longStepAfter` to the chat webhook. Messages go out one at a time, in order; a message
 * that cannot be delivered becomes a `warning` runtime event (source `chat.notifier`) and never
 * touches the run.
 */
@injectable()
export class RunNotifier {
  private readonly closing = new AbortController();
  private readonly watches = new Map<Subscription, Promise<void>>();
  private readonly byRun = new Map<string, Promise<void>>();
  /** The last message queued: each post waits for the previous one, so messages arrive in order. */
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    @inject(WebhookClientToken) private readonly client: WebhookClient,
    @inject(ChatSettingsToken) private readonly settings: ChatSettings,
    @inject(Tokens.Events) private readonly events: EventSink,
    @inject(Tokens.Clock) private readonly clock: Clock,
  ) {}

  /**
   * Follows a run (call it right after `runtime.run`): resolves once the run ended and its messages were
   * posted or reported as undeliverable; never rejects because of the webhook. A long step is counted
   * from its start, but no earlier than this call. Watching a run that is already watched returns the same
   * promise (no message is posted twice). `CHAT_NOTIFIER_CLOSED` after the runtime closed.
   */
  watch(run: RunHandle): Promise<void> {
    if (this.closed) {
      return Promise.reject(
        new ChatError('CHAT_NOTIFIER_CLOSED', `cannot watch run ${run.id}: the runtime closed`),
      );
    }
    // Watching a run twice must not post its messages twice.
    const watching = this.byRun.get(run.id);
    if (watching) return watching;
    const state = new WatchedRun(run.id, this.clock.now());
    let resolve!: () => void;
    const done = new Promise<void>((settle) => (resolve = settle));
    const finish = (): void => {
      state.clearTimers();
      this.watches.delete(subscription);
      this.byRun.delete(run.id);
      // Everything this run queued is before the current tail.
      void this.queue.then(resolve);
    };
    const subscription: Subscription = run.events$.subscribe({
      next: (event) => this.onEvent(state, event),
      error: (error: unknown) => {
        this.warn(
          `stopped following run ${run.id}: ${error instanceof Error ? error.message : String(error)}`,
          run.id,
        );
        finish();
      },
      complete: finish,
    });
    if (!subscription.closed) {
      this.watches.set(subscription, done);
      this.byRun.set(run.id, done);
    }
    return done;
  }

  /**
   * Waits (at most 10 s) for watched runs to end and queued messages to go out, then aborts what is
   * left. The plugin's `stop` calls it when the runtime closes, after the runtime cancelled its runs.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const deadline = setTimeout(() => {
      for (const subscription of this.watches.keys()) subscription.unsubscribe();
      this.closing.abort(
        new ChatError('CHAT_NOTIFIER_CLOSED', 'the runtime closed before the message was posted'),
      );
    }, CLOSE_GRACE_MS);
    try {
      await Promise.all(this.watches.values());
      await this.queue;
    } finally {
      clearTimeout(deadline);
    }
  }

  private onEvent(state: WatchedRun, event: RunEvent): void {
    const { notifyOn } = this.settings;
    switch (event.type) {
      case 'run-started':
        state.pipeline = event.pipeline;
        return;
      case 'started':
        state.failed.delete(event.stepId);
        if (notifyOn.longStep) this.armLongStep(state, event.stepId, event.attempt, event.time);
        return;
      case 'retrying':
        state.clearTimer(event.stepId);
        return;
      case 'succeeded':
      case 'cached':
      case 'cancelled':
        state.end(event.stepId, event.type);
        return;
      case 'failed':
        state.end(event.stepId, 'failed');
        state.failed.set(event.stepId, { stepId: event.stepId, attempt: event.attempt, error: event.error });
        return;
      case 'run-succeeded':
        if (notifyOn.success) this.deliver(successMessage(state.summary(event.durationMs)), state.runId);
        return;
      case 'run-failed':
        if (notifyOn.failure) {
          const text = failureMessage(state.summary(event.durationMs), event.error, [
            ...state.failed.values(),
          ]);
          this.deliver(text, state.runId);
        }
        return;
      case 'run-cancelled':
        if (notifyOn.cancelled)
          this.deliver(cancelledMessage(state.summary(event.durationMs), event.reason), state.runId);
        return;
      case 'queued':
      case 'process':
      case 'progress':
      case 'log':
      case 'metric':
      case 'artifact':
        return;
    }
  }

  private armLongStep(state: WatchedRun, stepId: string, attempt: number, startedAt: number): void {
    const after = this.settings.longStepAfterMs;
    const due = Math.max(startedAt, state.watchedSince) + after;
    state.setTimer(
      stepId,
      setTimeout(
        () => {
          state.clearTimer(stepId);
          this.deliver(longStepMessage(state, stepId, attempt, this.clock.now() - startedAt), state.runId);
        },
        Math.max(0, due - this.clock.now()),
      ),
    );
  }

  private deliver(text: string, runId: string): void {
    this.queue = this.queue.then(async () => {
      try {
        await this.client.post(text, this.closing.signal);
      } catch (error) {
        this.warn(
          `could not post the notification of run ${runId}: ${error instanceof Error ? error.message : String(error)}`,
          runId,
        );
      }
    });
  }

  private warn(message: string, runId: string): void {
    this.events.emit({ level: 'warning', source: NOTIFIER_SOURCE, message, details: { runId } });
  }
}

/** What the notifier keeps about one followed run. */
class WatchedRun {
  pipeline = '?';
  readonly failed = new Map<string, FailedStep>();
  private readonly ends = new Map<string, StepEnd>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    readonly runId: string,
    readonly watchedSince: number,
  ) {}

  end(stepId: string, how: StepEnd): void {
    this.clearTimer(stepId);
    this.ends.set(stepId, how);
  }

  setTimer(stepId: string, timer: NodeJS.Timeout): void {
    this.clearTimer(stepId);
    // A forgotten run must not keep the process alive for a message.
    timer.unref();
    this.timers.set(stepId, timer);
  }

  clearTimer(stepId: string): void {
    clearTimeout(this.timers.get(stepId));
    this.timers.delete(stepId);
  }

  clearTimers(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  summary(durationMs: number): RunSummaryText {
    const counts = { succeeded: 0, cached: 0, failed: 0, cancelled: 0 };
    for (const how of this.ends.values()) counts[how]++;
    return { runId: this.runId, pipeline: this.pipeline, durationMs, counts };
  }
}
