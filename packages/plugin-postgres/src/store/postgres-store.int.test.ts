import { storeContractSuite } from '@beamline/core/testing';
import { afterAll, describe } from 'vitest';
import { dropTestSchemas, postgresAvailable, TEST_URL, testSchema } from '../../test/support/database.js';
import { PostgresStore } from './postgres-store.js';

const available = await postgresAvailable();

describe.skipIf(!available)('PostgresStore', () => {
  afterAll(dropTestSchemas);

  /** The schema each store was opened on, so that a reopen finds the same tables. */
  const schemaOf = new WeakMap<PostgresStore, string>();
  const open = async (schema: string): Promise<PostgresStore> => {
    const store = await PostgresStore.open({ url: TEST_URL, schema, maxConnections: 4 });
    schemaOf.set(store, schema);
    return store;
  };

  storeContractSuite('PostgresStore', {
    create: () => open(testSchema()),
    reopen: async (store) => {
      const schema = schemaOf.get(store as PostgresStore)!;
      await store.close();
      return open(schema);
    },
  });
});
