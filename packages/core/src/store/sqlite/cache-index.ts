import type { CacheRecord } from '../../contracts/store.js';
import { cacheFromRow, type CacheRow } from './rows.js';
import type { StoreDatabase } from './store-database.js';

/** The cache record under `key`; undefined when there is none. */
export function getCache({ statements }: StoreDatabase, key: string): CacheRecord | undefined {
  const row = statements.getCache.get(key) as CacheRow | undefined;
  return row === undefined ? undefined : cacheFromRow(row);
}

/** Records a cache entry, replacing one under the same key. */
export function putCache({ statements }: StoreDatabase, record: CacheRecord): void {
  statements.putCache.run(
    record.key,
    record.scope,
    JSON.stringify(record.keyParts),
    JSON.stringify(record.outputs),
    JSON.stringify(record.artifacts),
    record.runId,
    record.stepId,
    record.createdAt,
  );
}

/** The newest record of `scope` created before `before` (and not by `excludeRunId`), for `explain`. */
export function previousCache(
  { statements }: StoreDatabase,
  scope: string,
  before: number,
  excludeRunId: string | undefined,
): CacheRecord | undefined {
  const row = (
    excludeRunId === undefined
      ? statements.previousCache.get(scope, before)
      : statements.previousCacheExcluding.get(scope, before, excludeRunId)
  ) as CacheRow | undefined;
  return row === undefined ? undefined : cacheFromRow(row);
}
