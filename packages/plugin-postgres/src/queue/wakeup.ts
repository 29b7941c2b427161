/**
 * A sleep that a wake-up ends early, and that a wake-up arriving while nobody sleeps is not lost to: the
 * next {@link Wakeup.sleep} then returns at once. (A notification that lands while the sleeper is busy
 * reading the state it announces must still count: dropped, it cost the sleeper a whole poll interval.)
 */
export class Wakeup {
  #pending = false;
  #resolve: (() => void) | undefined;

  /** Ends the current sleep, or the next one if nobody sleeps now. */
  wake(): void {
    const resolve = this.#resolve;
    if (resolve === undefined) {
      this.#pending = true;
      return;
    }
    this.#resolve = undefined;
    resolve();
  }

  /** Waits `ms` or until {@link Wakeup.wake}; returns at once after a wake-up that came meanwhile. */
  sleep(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#resolve = undefined;
        resolve();
      }, ms);
      this.#resolve = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
