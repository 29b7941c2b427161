import { readdirSync, rmSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { RunEvent } from '../../contracts/events.js';
import { isLiveProcess } from '../../process/process-identity.js';
import { LogTextFile, type TextRange } from './log-text-file.js';
import type { StoreWarning } from './store-warning.js';

/**
 * Log text longer than this (in UTF-8 code units) goes to the log text file: a million lines of output
 * make ~40 MB that JSON.stringify would copy and SQLite would spread over overflow pages. Shorter text,
 * including everything a quiet step prints, stays in the row, so small appends never touch the file.
 */
const INLINE_TEXT_MAX = 4096;

/** `<db>-text` for generation 0, `<db>-text.<n>` after garbage collection compacted it n times. */
export function textFilePath(databasePath: string, generation: number): string {
  return generation === 0 ? `${databasePath}-text` : `${databasePath}-text.${generation}`;
}

/**
 * The log text files of a store: the one in use is the generation the database's `meta` row names, read
 * in the same transaction as the rows that point into it. When garbage collection (possibly in another
 * process) switched to a compacted copy, the next read of the generation moves this store to it.
 */
export class LogTexts {
  #file: LogTextFile;
  #generation: number;
  #truncationReported = false;

  /**
   * @param readGeneration reads the generation in use from the database
   * @param warn told (once) about log text missing from a truncated file
   */
  constructor(
    private readonly databasePath: string,
    private readonly readGeneration: () => number,
    private readonly warn: (warning: StoreWarning) => void,
  ) {
    this.#generation = readGeneration();
    this.#file = new LogTextFile(textFilePath(databasePath, this.#generation));
  }

  /** The generation the database says is in use, and its file. Call it inside a transaction. */
  current(): { generation: number; file: LogTextFile } {
    const generation = this.readGeneration();
    return { generation, file: this.use(generation) };
  }

  /** Whether the database names another generation than `generation` now. */
  switchedSince(generation: number): boolean {
    return this.readGeneration() !== generation;
  }

  /** The file of `generation`, switched to (and the previous file closed) when it is another one. */
  use(generation: number): LogTextFile {
    if (generation !== this.#generation) {
      this.#file.close();
      this.#file = new LogTextFile(textFilePath(this.databasePath, generation));
      this.#generation = generation;
    }
    return this.#file;
  }

  /**
   * Writes the text of the batch's large log events to the file in use, at its end; returns each one's
   * range by its index in `events`, or undefined when the batch has none. The caller holds the write
   * lock (the generation is read under it: garbage collection in another process may have switched).
   */
  writeLarge(events: readonly RunEvent[]): Map<number, TextRange> | undefined {
    let indexes: number[] | undefined;
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      if (event.type === 'log' && event.text.length > INLINE_TEXT_MAX) (indexes ??= []).push(i);
    }
    if (indexes === undefined) return undefined;
    const texts = indexes.map((i) => (events[i] as Extract<RunEvent, { type: 'log' }>).text);
    const written = this.current().file.append(texts);
    const ranges = new Map<number, TextRange>();
    indexes.forEach((eventIndex, i) => ranges.set(eventIndex, written[i]!));
    return ranges;
  }

  /**
   * The note appended to a log text of event `seq` that lacks `missing` of its `length` bytes; the first
   * time, a warning too (a truncated file usually lacks the text of many events).
   */
  missingTextNote(seq: number, missing: number, length: number): string {
    const file = this.#file.path;
    if (!this.#truncationReported) {
      this.#truncationReported = true;
      this.warn({
        message: `The log text file ${file} is shorter than the database says: ${missing} of ${length} bytes of event ${seq} are missing (and maybe of later events). The text is shown as far as it is there.`,
        details: { file, seq, missing, length },
      });
    }
    return `\n[beamline: ${missing} of ${length} bytes of this log text are missing from ${file}]\n`;
  }

  /**
   * Deletes log text files no generation uses any more: older generations (a collection that ended after
   * its commit), and temporary copies of collections whose process is gone. Later generations are left
   * alone: one may be another process's switch in progress, and a leftover is replaced by the next one.
   */
  removeStale(current: number): void {
    const folder = dirname(this.databasePath);
    const base = `${basename(this.databasePath)}-text`;
    for (const name of readdirSync(folder)) {
      if (!name.startsWith(base)) continue;
      const match = /^(?:\.(\d+))?(?:\.tmp-(\d+)-[0-9a-f]+)?$/.exec(name.slice(base.length));
      if (match === null) continue;
      const generation = Number(match[1] ?? 0);
      const writer = match[2] === undefined ? undefined : Number(match[2]);
      const stale = writer === undefined ? generation < current : !isLiveProcess(writer);
      if (stale) rmSync(`${folder}/${name}`, { force: true });
    }
  }

  close(): void {
    this.#file.close();
  }
}
