import { toError } from '../util/error-info.js';

/**
 * Runs steps (by plan position) in the order they become ready, at most `maxParallel` at a time. Each step
 * is pushed at most once, so a queue of the plan's size never wraps. A plain array of positions and a
 * counter: per step it allocates nothing that outlives the step (an Observable pipeline keeps a subscriber
 * per step in a list of the long-lived outer subscription, which in V8 ends up in the old generation).
 */
export class StepQueue {
  readonly #queued: Int32Array;
  #head = 0;
  #tail = 0;
  #running = 0;
  #failure: { error: Error } | undefined;
  #whenDrained: (() => void) | undefined;

  constructor(
    size: number,
    private readonly maxParallel: number,
    private readonly runStep: (position: number) => Promise<void>,
  ) {
    this.#queued = new Int32Array(size);
  }

  /** Queues a step; it starts at once when fewer than `maxParallel` run. */
  push(position: number): void {
    this.#queued[this.#tail++] = position;
    this.#startWhatFits();
  }

  /**
   * Resolves once nothing is queued or running. When a step's run rejects (a bug: a step's own failures
   * are outcomes), nothing more starts and this rejects with that error once the running steps ended.
   */
  drained(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#whenDrained = () => (this.#failure ? reject(this.#failure.error) : resolve());
      this.#checkDrained();
    });
  }

  #startWhatFits(): void {
    while (this.#failure === undefined && this.#running < this.maxParallel && this.#head < this.#tail) {
      const position = this.#queued[this.#head++]!;
      this.#running++;
      this.runStep(position).then(this.#onStepEnd, this.#onStepFailure);
    }
  }

  readonly #onStepEnd = (): void => {
    this.#running--;
    this.#startWhatFits();
    this.#checkDrained();
  };

  readonly #onStepFailure = (error: unknown): void => {
    this.#failure ??= { error: toError(error) };
    this.#onStepEnd();
  };

  #checkDrained(): void {
    if (this.#running === 0 && (this.#head === this.#tail || this.#failure)) this.#whenDrained?.();
  }
}
