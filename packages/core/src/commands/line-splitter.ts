/**
 * A partial line longer than this (in bytes) is passed on without waiting for its newline, so a process
 * that never prints one cannot grow memory without bound.
 */
const MAX_PARTIAL_BYTES = 1 << 20;

const NEWLINE = 0x0a;

/**
 * Turns a byte stream into chunks of whole lines without decoding it: each chunk returned is a run of
 * complete lines (newlines included), and the partial line after the last newline is carried to the next
 * read. A newline byte never occurs inside a multi-byte UTF-8 character, so every chunk decodes on its
 * own. Concatenating every chunk (and the final {@link LineChunker.flush}) gives the bytes exactly.
 *
 * Chunks are views of the buffers pushed wherever possible: only the line that straddles two reads is
 * copied, so a chatty process costs one copy of a line per read, not one of every byte.
 */
export class LineChunker {
  private partial: Buffer[] = [];
  private partialBytes = 0;

  /**
   * Adds bytes; returns the lines now complete as one or two chunks (the line completed by this read,
   * then the lines wholly inside it), or undefined if none are.
   */
  push(data: Buffer): Buffer[] | undefined {
    const last = data.lastIndexOf(NEWLINE);
    if (last === -1) {
      if (data.length === 0) return undefined;
      this.partial.push(data);
      this.partialBytes += data.length;
      return this.partialBytes < MAX_PARTIAL_BYTES ? undefined : this.passLongLine();
    }
    const out: Buffer[] = [];
    let from = 0;
    if (this.partialBytes > 0) {
      from = data.indexOf(NEWLINE) + 1;
      this.partial.push(data.subarray(0, from));
      out.push(Buffer.concat(this.partial, this.partialBytes + from));
    }
    if (from <= last) out.push(data.subarray(from, last + 1));
    if (last + 1 < data.length) {
      this.partial = [data.subarray(last + 1)];
      this.partialBytes = data.length - last - 1;
    } else {
      this.partial = [];
      this.partialBytes = 0;
    }
    return out;
  }

  /** Returns what is left (a last line without a newline), or undefined when nothing is. */
  flush(): Buffer | undefined {
    if (this.partialBytes === 0) return undefined;
    const rest = Buffer.concat(this.partial, this.partialBytes);
    this.partial = [];
    this.partialBytes = 0;
    return rest;
  }

  /** Passes on a line too long to hold, up to its last whole UTF-8 character. */
  private passLongLine(): Buffer[] {
    const line = Buffer.concat(this.partial, this.partialBytes);
    const cut = utf8Boundary(line);
    this.partial = cut < line.length ? [line.subarray(cut)] : [];
    this.partialBytes = line.length - cut;
    return [line.subarray(0, cut)];
  }
}

/** The length of `bytes` without a multi-byte character cut off at its end. */
function utf8Boundary(bytes: Buffer): number {
  // Look back at most three bytes for the lead byte of the last character.
  for (let i = bytes.length - 1; i >= 0 && i >= bytes.length - 4; i--) {
    const byte = bytes[i]!;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte
    const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return i + needed <= bytes.length ? bytes.length : i;
  }
  return bytes.length;
}
