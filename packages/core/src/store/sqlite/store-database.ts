import type Database from 'better-sqlite3';
import type { LogTexts } from './log-texts.js';
import type { Statements } from './statements.js';
import type { StoreWarning } from './store-warning.js';

/** What the parts of a `SqliteStore` work on: its connection, statements and log text files. */
export interface StoreDatabase {
  readonly db: Database.Database;
  /** The database file (or `:memory:`). */
  readonly path: string;
  readonly statements: Statements;
  /** The log text files next to the database; undefined for `:memory:`, which keeps all text in rows. */
  readonly texts: LogTexts | undefined;
  /** Told about problems the store works around (see `SqliteStoreOptions.onWarning`). */
  readonly warn: (warning: StoreWarning) => void;
}
