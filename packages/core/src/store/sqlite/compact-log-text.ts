import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import type { LogTextFile } from './log-text-file.js';
import { textFilePath, type LogTexts } from './log-texts.js';
import type { StoreDatabase } from './store-database.js';

/** A log text file is rewritten only to give back at least this much (and a quarter of it). */
const COMPACT_MIN_GARBAGE = 64 * 1024;

/**
 * Rewrites the store's log text file with only the text that events still point at, when at least a
 * quarter of it (and 64 KiB) is garbage; returns the bytes given back (see {@link LogTextCompaction}).
 */
export function compactLogText(database: StoreDatabase, texts: LogTexts): number {
  return new LogTextCompaction(database, texts).run();
}

/** A run of live bytes of the old log text file and where it lands in the new one. */
interface MovedSegment {
  oldStart: number;
  newStart: number;
  length: number;
}

/**
 * Where text moves when a log text file is compacted: the live ranges, sorted by offset and merged where
 * they touch, each given its place in the new file (back to back, in the same order).
 */
class TextMoves {
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
function copyRange(source: number, target: number, from: number, to: number, length: number): void {
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
function commitFile(fd: number, from: string, to: string): void {
  fsyncSync(fd);
  renameSync(from, to);
  const folder = openSync(dirname(to), 'r');
  try {
    fsyncSync(folder);
  } finally {
    closeSync(folder);
  }
}

/** The log text file in use, and its size, at one moment under the write lock. */
interface TextSnapshot {
  generation: number;
  file: LogTextFile;
  end: number;
}

/**
 * Rewrites the log text file with only the text that events still point at, when enough of it is
 * garbage. The copy of the live text is made from a snapshot without blocking writers; under the write
 * lock the text appended since is copied too, the new file gets its name, the offsets move and the
 * generation switches, in one commit. Then the old file is deleted. A crash (`kill -9`) at any moment
 * leaves either the old file and rows or the new ones, never a mix; the next collection removes what a
 * killed one left.
 */
class LogTextCompaction {
  readonly #db: Database.Database;

  constructor(
    private readonly database: StoreDatabase,
    private readonly texts: LogTexts,
  ) {
    this.#db = database.db;
  }

  /** Compacts when worth it; returns the bytes given back. */
  run(): number {
    const snapshot = this.#snapshot();
    this.texts.removeStale(snapshot.generation);
    if (!this.#worthCompacting(snapshot.end)) return 0;
    const next = snapshot.generation + 1;
    const reclaimed = this.#writeNextGeneration(snapshot, next);
    if (reclaimed === undefined) return 0;
    this.texts.use(next);
    this.texts.removeStale(next);
    return reclaimed;
  }

  /**
   * Under the write lock, briefly: no writer is between writing its text and committing its rows, so
   * every byte below `end` is either text of a committed event or garbage, and everything written after
   * lands at or above it.
   */
  #snapshot(): TextSnapshot {
    return this.#db
      .transaction(() => {
        const { generation, file } = this.texts.current();
        return { generation, file, end: file.size() };
      })
      .immediate();
  }

  /** At least a quarter of the file below `end` (and 64 KiB) is text no event points at. */
  #worthCompacting(end: number): boolean {
    const live = this.#db
      .prepare(
        'SELECT coalesce(sum(text_length), 0) FROM events WHERE text_offset IS NOT NULL AND text_offset < ?',
      )
      .pluck()
      .get(end) as number;
    const garbage = end - live;
    return garbage >= COMPACT_MIN_GARBAGE && garbage >= end / 4;
  }

  /**
   * Writes generation `next` under a temporary name and switches to it; returns the bytes given back, or
   * undefined when another collection switched first (the copy is then deleted).
   */
  #writeNextGeneration(snapshot: TextSnapshot, next: number): number | undefined {
    const target = textFilePath(this.database.path, next);
    const temporary = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const out = openSync(temporary, 'w', 0o644);
    const source = openSync(snapshot.file.path, 'r');
    let reclaimed: number | undefined;
    try {
      const moves = this.#copyLiveText(source, out, snapshot.end);
      reclaimed = this.#db
        .transaction(() => this.#switchFiles({ snapshot, next, source, out, temporary, target, moves }))
        .immediate();
    } finally {
      closeSync(source);
      closeSync(out);
      if (reclaimed === undefined) rmSync(temporary, { force: true });
    }
    return reclaimed;
  }

  /** Outside the lock: the text the snapshot's events point at, in offset order, back to back. */
  #copyLiveText(source: number, out: number, end: number): TextMoves {
    const moves = new TextMoves();
    const ranges = this.#db
      .prepare(
        'SELECT text_offset AS offset, text_length AS length FROM events WHERE text_offset IS NOT NULL AND text_offset < ? ORDER BY text_offset',
      )
      .iterate(end) as IterableIterator<{ offset: number; length: number }>;
    for (const range of ranges) moves.add(range.offset, range.length);
    for (const segment of moves.segments) {
      copyRange(source, out, segment.oldStart, segment.newStart, segment.length);
    }
    return moves;
  }

  /**
   * Under the write lock: copies the text appended since the snapshot, gives the new file its name, moves
   * every event's offset and switches the generation, all in this one commit.
   */
  #switchFiles(copy: {
    snapshot: TextSnapshot;
    next: number;
    source: number;
    out: number;
    temporary: string;
    target: string;
    moves: TextMoves;
  }): number | undefined {
    const { snapshot, moves } = copy;
    // Another collection got there first: its file is the one in use, this copy is not needed.
    if (this.texts.switchedSince(snapshot.generation)) return undefined;
    // Text appended since the snapshot lies after its end (appends go to the end of the file under
    // the lock this transaction now holds): it moves as one block.
    const tail = fstatSync(copy.source).size - snapshot.end;
    if (tail > 0) copyRange(copy.source, copy.out, snapshot.end, moves.size, tail);
    commitFile(copy.out, copy.temporary, copy.target);
    this.#moveOffsets(moves, snapshot.end);
    this.#db.prepare("UPDATE meta SET value = ? WHERE key = 'text_generation'").run(copy.next);
    return snapshot.end - moves.size;
  }

  /** Points every event with text in the file at where its text is in the new one. */
  #moveOffsets(moves: TextMoves, end: number): void {
    const rowsOf = this.#db.prepare(
      'SELECT seq, text_offset AS offset FROM events WHERE run_id = ? AND text_offset IS NOT NULL',
    );
    const move = this.#db.prepare('UPDATE events SET text_offset = ? WHERE run_id = ? AND seq = ?');
    for (const id of this.#db.prepare('SELECT id FROM runs').pluck().all() as string[]) {
      const rows = rowsOf.all(id) as { seq: number; offset: number }[];
      for (const row of rows) {
        const offset = row.offset >= end ? moves.size + (row.offset - end) : moves.map(row.offset);
        if (offset !== row.offset) move.run(offset, id, row.seq);
      }
    }
  }
}
