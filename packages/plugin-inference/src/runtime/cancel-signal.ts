import type { CancelSignal } from './model-version.js';

/**
 * A one-shot cancellation for one request: what {@link CancelSignal} asks, without an
 * `AbortController` (an `EventTarget` per request costs several microseconds and garbage on the hot
 * path). Holds one listener, which is all the queue registers.
 */
export class RequestCancel implements CancelSignal {
  private cancelled = false;
  private listener: (() => void) | undefined;

  get aborted(): boolean {
    return this.cancelled;
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.cancelled) listener();
    else this.listener = listener;
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    if (this.listener === listener) this.listener = undefined;
  }

  /** Cancels once; the listener (if any) runs now. */
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    const listener = this.listener;
    this.listener = undefined;
    listener?.();
  }
}
