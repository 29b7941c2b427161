/**
 * The default size limit of one event's text. V8 allocates a string above 128 KiB in its large-object
 * space, each in freshly mapped memory: decoding 40 MB of output into such strings costs several times
 * more (page faults) than into smaller ones, which it allocates from memory it reuses.
 */
const DEFAULT_MAX_BYTES = 127 * 1024;

/** A log stream a command reports. */
export type LogStream = 'stdout' | 'stderr';

/**
 * Coalesces chunks of whole lines (as bytes) into fewer, larger `log` events: bytes are held until
 * adding a chunk would pass `maxBytes`, `maxDelayMs` have passed since the first held chunk, the stream
 * changes, or {@link flush} is called (a single chunk larger than `maxBytes` makes an event of its own).
 * A chatty process then costs the event log a few hundred rows instead of thousands, while a quiet one
 * still shows its lines within `maxDelayMs`.
 *
 * Text is decoded once per event, from one contiguous buffer, into one flat string: a store serialises
 * it without flattening a rope first.
 */
export class LogBuffer {
  private stream: LogStream | undefined;
  private chunks: Buffer[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Where held chunks are joined before decoding; reused, as a fresh buffer per event costs more. */
  private scratch: Buffer | undefined;

  constructor(
    private readonly emit: (stream: LogStream, text: string) => void,
    private readonly maxBytes = DEFAULT_MAX_BYTES,
    private readonly maxDelayMs = 50,
  ) {}

  /** Holds chunks of whole lines; they are decoded as UTF-8 when emitted. */
  add(stream: LogStream, chunks: readonly Buffer[]): void {
    // Flushing on a change of stream keeps stdout and stderr in the order they were read.
    if (this.stream !== stream) this.flush();
    this.stream = stream;
    for (const chunk of chunks) {
      if (chunk.length === 0) continue;
      if (this.bytes > 0 && this.bytes + chunk.length > this.maxBytes) this.flush();
      this.chunks.push(chunk);
      this.bytes += chunk.length;
    }
    if (this.bytes >= this.maxBytes) this.flush();
    else if (this.bytes > 0) this.timer ??= setTimeout(() => this.flush(), this.maxDelayMs);
  }

  /** Emits whatever is held. */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const stream = this.stream;
    const chunks = this.chunks;
    if (stream === undefined || this.bytes === 0) return;
    const bytes = this.bytes;
    this.chunks = [];
    this.bytes = 0;
    this.emit(stream, this.decode(chunks, bytes));
  }

  private decode(chunks: readonly Buffer[], bytes: number): string {
    if (chunks.length === 1) return chunks[0]!.toString('utf8');
    if (bytes > this.maxBytes) return Buffer.concat(chunks, bytes).toString('utf8');
    const scratch = (this.scratch ??= Buffer.allocUnsafe(this.maxBytes));
    let at = 0;
    for (const chunk of chunks) at += chunk.copy(scratch, at);
    return scratch.toString('utf8', 0, at);
  }

  /** Drops what is held and stops the timer (the subscriber is gone). */
  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.chunks = [];
    this.bytes = 0;
  }
}
