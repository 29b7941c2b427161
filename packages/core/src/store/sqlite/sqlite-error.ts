import { CoreError, isCoreError } from '../../errors/core-error.js';

/** Wraps a database failure in a CoreError; busy/locked databases are worth retrying. */
export function storeError(operation: string, error: unknown): Error {
  if (isCoreError(error)) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const sqliteCode = typeof code === 'string' ? code : undefined;
  const retryable = sqliteCode !== undefined && /^SQLITE_(BUSY|LOCKED)/.test(sqliteCode);
  const message = error instanceof Error ? error.message : String(error);
  return new CoreError('CORE_STORE_FAILED', `store ${operation} failed: ${message}`, {
    cause: error,
    retryable,
    details: sqliteCode === undefined ? { operation } : { operation, sqliteCode },
  });
}
