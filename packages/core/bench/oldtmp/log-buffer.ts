/** A log stream a command reports. */
export type LogStream = 'stdout' | 'stderr';

/**
 * Coalesces chunks of whole lines into fewer, larger `log` events: text is held until `maxChars` have
 * gathered, `maxDelayMs` have passed since the first held chunk, the stream changes, or {@link flush} is
 * called. A chatty process then costs the event log a few hundred rows instead of thousands, while a
 * quiet one still shows its lines within `maxDelayMs`.
 */
export class LogBuffer {
  private stream: LogStream | undefined;
  private text = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly emit: (stream: LogStream, text: string) => void,
    private readonly maxChars = 256 * 1024,
    private readonly maxDelayMs = 50,
  ) {}

  add(stream: LogStream, text: string): void {
    // Flushing on a change of stream keeps stdout and stderr in the order they were read.
    if (this.stream !== stream) this.flush();
    this.stream = stream;
    // String concatenation builds a rope in O(1); whoever serialises the event flattens it once.
    this.text += text;
    if (this.text.length >= this.maxChars) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.maxDelayMs);
  }

  /** Emits whatever is held. */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const stream = this.stream;
    const text = this.text;
    if (stream === undefined || text === '') return;
    this.text = '';
    this.emit(stream, text);
  }

  /** Drops what is held and stops the timer (the subscriber is gone). */
  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.text = '';
  }
}
