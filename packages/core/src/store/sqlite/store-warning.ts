/** A problem a `SqliteStore` worked around (see `SqliteStoreOptions.onWarning`). */
export interface StoreWarning {
  /** One line for people. */
  message: string;
  details: Record<string, unknown>;
}
