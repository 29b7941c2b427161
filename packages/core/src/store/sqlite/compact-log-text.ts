import { closeSync, fsyncSync, openSync, readSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** A run of live bytes of the old log text file and where it lands in the new one. */
export interface MovedSegment {
  oldStart: number;
  newStart: number;
  length: number;
}

/**
 * Where text moves when a log text file is compacted: the live ranges, sorted by offset and merged where
 * they touch, each given its place in the new file (back to back, in the same order).
 */
export class TextMoves {
  readonly segments: MovedSegment[] = [];
  #size = 0;

  /** Adds a live range; ranges must come in ascending offset order. */
  add(offset: number, length: number): void {
    const last = this.segments.at(-1);
    if (last !== undefined && offset <= last.oldStart + last.length) {
      // Touching or (never expected) overlapping ranges share a segment.
      const end = Math.max(last.oldStart + last.length, offset + length);
      this.#size += end - (last.oldStart + last.length);
      last.length = end - last.oldStart;
      return;
    }
    this.segments.push({ oldStart: offset, newStart: this.#size, length });
    this.#size += length;
  }

  /** Bytes of live text, the size of the new file before any tail is added. */
  get size(): number {
    return this.#size;
  }

  /** The new offset of text at `offset` (which must lie in a live range). */
  map(offset: number): number {
    let low = 0;
    let high = this.segments.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const segment = this.segments[middle]!;
      if (offset < segment.oldStart) high = middle - 1;
      else if (offset >= segment.oldStart + segment.length) low = middle + 1;
      else return segment.newStart + (offset - segment.oldStart);
    }
    throw new Error(`offset ${offset} is not in a live range of the log text file`);
  }
}

const COPY_CHUNK = 1 << 20;

/** Copies `length` bytes at `from` of one file to `to` of another. */
export function copyRange(source: number, target: number, from: number, to: number, length: number): void {
  const buffer = Buffer.allocUnsafe(Math.min(COPY_CHUNK, Math.max(length, 1)));
  let done = 0;
  while (done < length) {
    const want = Math.min(buffer.length, length - done);
    const got = readSync(source, buffer, 0, want, from + done);
    // A file shorter than the database says (it lost its end): copy what is there, the rest reads as missing.
    if (got === 0) return;
    let written = 0;
    while (written < got) written += writeSync(target, buffer, written, got - written, to + done + written);
    done += got;
  }
}

/** Makes a file's data and its name durable: fsync the file, rename it, fsync the folder. */
export function commitFile(fd: number, from: string, to: string): void {
  fsyncSync(fd);
  renameSync(from, to);
  const folder = openSync(dirname(to), 'r');
  try {
    fsyncSync(folder);
  } finally {
    closeSync(folder);
  }
}
