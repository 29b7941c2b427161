import { closeSync, constants, fstatSync, openSync, readSync, writeSync } from 'node:fs';

/** Where one text lies in a {@link LogTextFile}: UTF-8 bytes from `offset`. */
export interface TextRange {
  offset: number;
  length: number;
}

/**
 * The append-only file that holds the text of large `log` events next to a SQLite database
 * (`<db>-text`). Inside the database such text would be copied by `JSON.stringify` and spread over
 * chains of overflow pages, several times slower than writing it to a file once.
 *
 * Writers must hold the database's write lock (they call {@link append} inside the transaction that then
 * records the ranges): the lock is what keeps two processes from writing at the same offset. The text is
 * written before that transaction commits, so a committed event never points at text that is not in the
 * file; the text reaches the page cache on return, which survives a crash of the process (`kill -9`).
 * Bytes written by a transaction that never committed stay behind unreferenced: every append starts at
 * the file's current end, not at an offset remembered from earlier.
 * @internal
 */
export class LogTextFile {
  #fd: number | undefined;
  #writable = false;

  constructor(readonly path: string) {}

  /**
   * Writes `texts` at the end of the file and returns their ranges. The caller must hold the database's
   * write lock.
   */
  append(texts: readonly string[]): TextRange[] {
    const fd = this.#open(true);
    const ranges: TextRange[] = [];
    let offset = fstatSync(fd).size;
    for (const text of texts) {
      // Writing the string itself lets Node encode it into a scratch buffer it reuses: a Buffer per text
      // would be a fresh allocation for every 100 KiB of log, several times slower.
      let written = writeSync(fd, text, offset, 'utf8');
      // libuv retries a partial write until it fails, and then reports what it wrote without an error (a
      // full disk). ASCII text encodes to as many bytes as it has characters; other text is measured.
      if (written !== text.length && written !== Buffer.byteLength(text, 'utf8')) {
        written += this.#writeRest(fd, Buffer.from(text, 'utf8').subarray(written), offset + written);
      }
      ranges.push({ offset, length: written });
      offset += written;
    }
    return ranges;
  }

  /** Writes what a short write left, so that the failure that stopped it (ENOSPC) is the error thrown. */
  #writeRest(fd: number, rest: Buffer, position: number): number {
    let done = 0;
    while (done < rest.length) {
      let n: number;
      try {
        n = writeSync(fd, rest, done, rest.length - done, position + done);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`cannot write the log text file ${this.path}: ${reason}`, { cause: error });
      }
      if (n === 0) throw new Error(`cannot write the log text file ${this.path}: no progress`);
      done += n;
    }
    return done;
  }

  /**
   * Reads a range back: `text` is what the file holds of it, `missing` the bytes it lacks. Text goes
   * missing only when the file lost its end (an OS crash or a power loss may keep a database commit but
   * lose file pages that were never synced; a disk that was repaired; a file truncated or deleted by hand):
   * the caller says so rather than return less without a word.
   */
  read(range: TextRange): { text: string; missing: number } {
    let fd: number;
    try {
      fd = this.#open(false);
    } catch (error) {
      // A file that is not there at all holds none of the text.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { text: '', missing: range.length };
      throw error;
    }
    const buffer = Buffer.allocUnsafe(range.length);
    let got = 0;
    while (got < range.length) {
      const n = readSync(fd, buffer, got, range.length - got, range.offset + got);
      if (n === 0) break;
      got += n;
    }
    return { text: buffer.toString('utf8', 0, got), missing: range.length - got };
  }

  /** The file's size in bytes (0 when it does not exist yet). */
  size(): number {
    try {
      return fstatSync(this.#open(false)).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw error;
    }
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    this.#writable = false;
  }

  #open(write: boolean): number {
    if (this.#fd !== undefined && (this.#writable || !write)) return this.#fd;
    this.close();
    // No O_APPEND: positioned writes at the size read under the lock say exactly where each text went.
    this.#fd = write
      ? openSync(this.path, constants.O_RDWR | constants.O_CREAT, 0o644)
      : openSync(this.path, constants.O_RDONLY);
    this.#writable = write;
    return this.#fd;
  }
}
