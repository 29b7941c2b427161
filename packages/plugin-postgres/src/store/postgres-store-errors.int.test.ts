import { initialRunState, isCoreError, reduceRunState, type RunEvent } from '@beamline/core';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { dropTestSchemas, postgresAvailable, TEST_URL, testSchema } from '../../test/support/database.js';
import { isPostgresError, type PostgresErrorCode } from '../errors/postgres-error.js';
import { PostgresStore } from './postgres-store.js';

const available = await postgresAvailable();

async function openError(options: Parameters<typeof PostgresStore.open>[0]): Promise<unknown> {
  return PostgresStore.open(options).then(
    async (store) => {
      await store.close();
      return undefined;
    },
    (error: unknown) => error,
  );
}

function withUrl(change: (url: URL) => void): string {
  const url = new URL(TEST_URL);
  change(url);
  return url.toString();
}

async function expectOpenError(
  options: Parameters<typeof PostgresStore.open>[0],
  code: PostgresErrorCode,
  text: RegExp,
) {
  const error = await openError(options);
  expect(isPostgresError(error, code), String(error)).toBe(true);
  expect((error as Error).message).toMatch(text);
  // Never the password in a message.
  expect((error as Error).message).not.toContain(':beamline@');
  return error as Error;
}

describe.skipIf(!available)('PostgresStore: errors and several writers', () => {
  afterAll(dropTestSchemas);

  it('says clearly at open that the password is wrong, the database is missing or the server unreachable', async () => {
    await expectOpenError(
      { url: withUrl((u) => (u.password = 'wrong')) },
      'POSTGRES_AUTH_FAILED',
      /refused the login: password authentication failed for user "beamline"/,
    );
    await expectOpenError(
      { url: withUrl((u) => (u.pathname = '/no_such_db')) },
      'POSTGRES_DATABASE_MISSING',
      /"no_such_db" does not exist/,
    );
    const refused = await expectOpenError(
      { url: withUrl((u) => (u.port = '1')), connectTimeoutMs: 3_000 },
      'POSTGRES_UNREACHABLE',
      /cannot be reached: .*ECONNREFUSED/,
    );
    expect((refused as { retryable?: boolean }).retryable).toBe(true);
    // A black-holed address: the connect timeout ends the wait.
    const started = Date.now();
    await expectOpenError(
      { url: withUrl((u) => (u.hostname = '10.255.255.1')), connectTimeoutMs: 1_000 },
      'POSTGRES_UNREACHABLE',
      /cannot be reached/,
    );
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('refuses a bad URL or schema name before connecting', async () => {
    await expectOpenError({ url: 'not a url' }, 'POSTGRES_CONFIG_INVALID', /is not a URL/);
    await expectOpenError({ url: 'http://x/db' }, 'POSTGRES_CONFIG_INVALID', /scheme "http:"/);
    await expectOpenError(
      { url: TEST_URL, schema: 'x"; drop table y; --' },
      'POSTGRES_CONFIG_INVALID',
      /schema name/,
    );
  });

  it('works over the Unix socket', async () => {
    const socket = withUrl((u) => {
      u.hostname = '';
      u.searchParams.set('host', '/var/run/postgresql');
    });
    expect(await openError({ url: socket, schema: testSchema() })).toBeUndefined();
  });

  it('refuses a store whose layout is newer than this code', async () => {
    const schema = testSchema();
    const store = await PostgresStore.open({ url: TEST_URL, schema });
    await store.close();
    const client = new pg.Client({ connectionString: TEST_URL });
    await client.connect();
    await client.query(`UPDATE "${schema}".meta SET value = '99' WHERE name = 'schema_version'`);
    await client.end();
    await expectOpenError({ url: TEST_URL, schema }, 'POSTGRES_SCHEMA_INCOMPATIBLE', /layout version 99/);
  });

  it('keeps one gapless log when two stores append to the same run at once', async () => {
    const schema = testSchema();
    const [a, b] = await Promise.all([
      PostgresStore.open({ url: TEST_URL, schema }),
      PostgresStore.open({ url: TEST_URL, schema }),
    ]);
    try {
      await a.createRun({
        id: 'r',
        pipeline: 'p',
        plan: { steps: [{ id: 's' }] },
        params: {},
        cwd: '/',
        createdAt: 1,
      });
      // Each writer reads the last seq and appends the next one; a conflict is a refused batch, never a gap.
      const writer = async (store: PostgresStore, n: number): Promise<number> => {
        let written = 0;
        for (let i = 0; i < n; i++) {
          const seq = ((await store.runState('r'))?.lastSeq ?? 0) + 1;
          const ok = await store
            .append('r', [
              {
                runId: 'r',
                seq,
                time: seq,
                type: 'log',
                stepId: 's',
                attempt: 1,
                stream: 'stdout',
                text: `${seq}`,
              },
            ])
            .then(
              () => true,
              (error: unknown) => {
                expect(isCoreError(error, 'CORE_STORE_FAILED')).toBe(true);
                return false;
              },
            );
          if (ok) written++;
        }
        return written;
      };
      const [wa, wb] = await Promise.all([writer(a, 60), writer(b, 60)]);
      const seqs: number[] = [];
      for await (const event of a.readEvents('r')) seqs.push(event.seq);
      expect(seqs).toEqual(Array.from({ length: wa + wb }, (_, i) => i + 1));
      expect((await b.runState('r'))?.lastSeq).toBe(wa + wb);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a cancel request that comes while a batch is appended is kept', async () => {
    const schema = testSchema();
    const [a, b] = await Promise.all([
      PostgresStore.open({ url: TEST_URL, schema }),
      PostgresStore.open({ url: TEST_URL, schema }),
    ]);
    try {
      for (let n = 0; n < 40; n++) {
        const id = `run-${n}`;
        await a.createRun({
          id,
          pipeline: 'p',
          plan: { steps: [{ id: 's' }] },
          params: {},
          cwd: '/',
          createdAt: 1,
        });
        const log = (seq: number) => ({
          runId: id,
          seq,
          time: seq,
          type: 'log' as const,
          stepId: 's',
          attempt: 1,
          stream: 'stdout' as const,
          text: `${seq}`,
        });
        // Appends from one store while the other records a cancel request: the request is never lost.
        const appends = (async () => {
          for (let seq = 1; seq <= 5; seq++) await a.append(id, [log(seq)]);
        })();
        await new Promise((resolve) => setTimeout(resolve, n % 5));
        await b.requestCancel(id, `stop ${n}`);
        await appends;
        expect(await a.cancelRequested(id)).toBe(`stop ${n}`);
        expect((await a.runState(id))?.lastSeq).toBe(5);
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a store that appended last and one that appended since: each append builds on the real state', async () => {
    const schema = testSchema();
    const [a, b] = await Promise.all([
      PostgresStore.open({ url: TEST_URL, schema }),
      PostgresStore.open({ url: TEST_URL, schema }),
    ]);
    try {
      const record = {
        id: 'r',
        pipeline: 'p',
        plan: { steps: [{ id: 's' }] },
        params: {},
        cwd: '/',
        createdAt: 1,
      };
      await a.createRun(record);
      const base = { runId: 'r', stepId: 's' };
      const events: RunEvent[] = [
        { ...base, seq: 1, time: 1, type: 'queued' },
        { ...base, seq: 2, time: 2, type: 'log', attempt: 1, stream: 'stdout', text: 'x' },
        {
          ...base,
          seq: 3,
          time: 3,
          type: 'started',
          attempt: 1,
          resources: { cpus: 1, memoryMb: 0, gpus: [] },
          key: 'k',
          keyParts: { command: 'exec', commandVersion: '1', params: '{}', inputs: {}, runner: '-', env: {} },
        } as RunEvent,
        {
          ...base,
          seq: 4,
          time: 4,
          type: 'succeeded',
          attempt: 1,
          outputs: {},
          artifacts: [],
          durationMs: 1,
        },
      ];
      await a.append('r', events.slice(0, 2));
      // Another process moves the step on; the first store's own record of the run is now out of date.
      await b.append('r', events.slice(2, 3));
      // A batch that does not continue the real log is refused; one that does is written on the real state.
      await expect(a.append('r', [{ ...events[3]!, seq: 3 }])).rejects.toThrow();
      await a.append('r', events.slice(3));
      const expected = events.reduce(reduceRunState, initialRunState(record));
      const state = await b.runState('r');
      expect(state?.lastSeq).toBe(4);
      expect(state?.steps.s).toEqual(expected.steps.s);
      expect(state?.steps.s).toMatchObject({ status: 'succeeded', attempt: 1, startedAt: 3 });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a closed store refuses calls with CORE_STORE_FAILED', async () => {
    const store = await PostgresStore.open({ url: TEST_URL, schema: testSchema() });
    await store.close();
    const error = await store.listRuns().catch((e: unknown) => e);
    expect(isCoreError(error, 'CORE_STORE_FAILED')).toBe(true);
  });
});
