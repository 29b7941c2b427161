import { StringDecoder } from 'node:string_decoder';

/**
 * A partial line longer than this is passed on without waiting for its newline, so a process that never
 * prints one cannot grow memory without bound.
 */
const MAX_PARTIAL_CHARS = 1 << 20;

/**
 * Turns a byte stream into chunks of whole lines: each chunk ends at the last newline it contains and
 * the partial line after it is carried to the next one. Multi-byte UTF-8 characters split across reads
 * are decoded whole. Concatenating every chunk (and the final {@link LineChunker.flush}) gives the
 * decoded text exactly.
 */
export class LineChunker {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  /** Adds bytes; returns the whole lines now complete (newlines included), or undefined if none are. */
  push(data: Buffer): string | undefined {
    const text = this.partial + this.decoder.write(data);
    const end = text.lastIndexOf('\n');
    if (end === -1) {
      if (text.length < MAX_PARTIAL_CHARS) {
        this.partial = text;
        return undefined;
      }
      this.partial = '';
      return text;
    }
    if (end === text.length - 1) {
      this.partial = '';
      return text;
    }
    this.partial = text.slice(end + 1);
    return text.slice(0, end + 1);
  }

  /** Returns what is left (a last line without a newline), or undefined when nothing is. */
  flush(): string | undefined {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    return rest === '' ? undefined : rest;
  }
}
