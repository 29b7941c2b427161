import type { RunEvent } from '../../contracts/events.js';
import type { ReadEventsOptions } from '../../contracts/store.js';
import type { LogTextFile } from './log-text-file.js';
import type { EventRow } from './rows.js';
import { PAGE_ROWS, type Statement } from './statements.js';
import type { StoreDatabase } from './store-database.js';

/** The text budget of a page of events (log events may carry ~64 KB each). */
const PAGE_CHARS = 8 * 1024 * 1024;

/** Events read in one page, and the log text found missing from the file (index into `events`). */
interface PageRead {
  events: RunEvent[];
  lastSeq: number;
  done: boolean;
  missing: { index: number; seq: number; missing: number; length: number }[];
}

/** The query of `readEvents` with these options: `page(afterSeq)` reads the next page after a seq. */
export interface EventQuery {
  page(afterSeq: number): { events: RunEvent[]; lastSeq: number; done: boolean };
}

/**
 * The paged query for `readEvents(runId, options)`, by step and types when given. `options.types` must not
 * be empty (nothing matches it: the caller returns at once).
 */
export function eventQuery(database: StoreDatabase, runId: string, options: ReadEventsOptions): EventQuery {
  const { statements } = database;
  const types = options.types === undefined ? undefined : JSON.stringify(options.types);
  const stmt =
    options.stepId === undefined
      ? types === undefined
        ? statements.events
        : statements.eventsOfTypes
      : types === undefined
        ? statements.eventsOfStep
        : statements.eventsOfStepAndTypes;
  return {
    page: (afterSeq) => {
      const params: unknown[] = [runId, afterSeq];
      if (options.stepId !== undefined) params.push(options.stepId);
      if (types !== undefined) params.push(types);
      return readPageWithText(database, stmt, params);
    },
  };
}

/**
 * One page of events with their log text. The rows and the generation of the text file are read in one
 * transaction, so they agree. Text found missing is checked once more after it: garbage collection in
 * another process may have replaced the file between the snapshot and the read, and the page is then
 * read again from the new one; text that is really missing is shown as far as it is there, with a note.
 */
function readPageWithText(database: StoreDatabase, stmt: Statement, params: unknown[]): PageRead {
  const { texts } = database;
  const read = database.db.transaction((): { page: PageRead; generation: number } => {
    if (texts === undefined) return { page: readPage(stmt, params, undefined), generation: 0 };
    const { generation, file } = texts.current();
    return { page: readPage(stmt, params, file), generation };
  });
  for (let attempt = 0; ; attempt++) {
    const { page, generation } = read();
    if (page.missing.length === 0 || texts === undefined) return page;
    if (attempt < 3 && texts.switchedSince(generation)) continue;
    for (const gap of page.missing) {
      const event = page.events[gap.index] as { text: string };
      event.text += texts.missingTextNote(gap.seq, gap.missing, gap.length);
    }
    return page;
  }
}

/**
 * Reads a page synchronously: the cursor is closed before the caller yields the first event (an open
 * cursor keeps the connection busy, and the consumer may call the store between two events).
 */
function readPage(stmt: Statement, params: unknown[], texts: LogTextFile | undefined): PageRead {
  const events: RunEvent[] = [];
  const gaps: PageRead['missing'] = [];
  let lastSeq = 0;
  let chars = 0;
  for (const row of stmt.iterate(...params) as IterableIterator<EventRow>) {
    const event = JSON.parse(row.body) as RunEvent;
    if (row.text_offset !== null && row.text_length !== null) {
      if (texts === undefined) throw new Error(`event ${row.seq} refers to a log text file`);
      const { text, missing } = texts.read({ offset: row.text_offset, length: row.text_length });
      (event as { text: string }).text = text;
      if (missing > 0) gaps.push({ index: events.length, seq: row.seq, missing, length: row.text_length });
      chars += row.text_length;
    }
    events.push(event);
    lastSeq = row.seq;
    chars += row.body.length;
    // Leaving the loop early resets the statement, which closes the cursor.
    if (chars >= PAGE_CHARS) return { events, lastSeq, done: false, missing: gaps };
  }
  return { events, lastSeq, done: events.length < PAGE_ROWS, missing: gaps };
}
