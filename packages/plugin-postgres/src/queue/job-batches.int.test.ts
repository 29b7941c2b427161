import { afterAll, describe, expect, it } from 'vitest';
import { dropTestSchemas, postgresAvailable, TEST_URL, testSchema } from '../../test/support/database.js';
import { JobBatches, OUTPUT_PAGE } from './job-batches.js';
import { QueueConnection } from './queue-connection.js';

const available = await postgresAvailable();

describe.skipIf(!available)('the coordinator’s batched job statements', () => {
  afterAll(dropTestSchemas);

  it('enqueues the steps of one turn together: every row, every message, each job once', async () => {
    const connection = await QueueConnection.open({ url: TEST_URL, schema: testSchema('b') });
    try {
      const queue = await connection.ensureQueue({
        runner: 'local',
        labels: [],
        cpus: 0,
        memoryMb: 0,
        gpus: 0,
        gpuOptional: false,
      });
      const batches = new JobBatches(connection);
      const ids = Array.from({ length: 30 }, (_, n) => `job-${n}`);
      const job = (id: string) => ({ id, queue, runId: 'r', stepId: id, spec: '{}', leaseMs: 1000 });
      await Promise.all(ids.map((id) => batches.enqueue(job(id))));
      // Written again (a lost reply): the row is kept once.
      await batches.enqueue(job('job-0'));
      const { rows } = await connection.pool.query<{ id: string; state: string }>(
        `SELECT id, state FROM ${connection.schema}.jobs ORDER BY id`,
      );
      expect(rows.map((row) => row.id).sort()).toEqual([...ids].sort());
      expect(new Set(rows.map((row) => row.state))).toEqual(new Set(['queued']));
      const messages = await connection.boss.fetch<{ jobId: string }>(queue, { batchSize: 100 });
      const delivered = messages.map((message) => message.data.jobId);
      expect(new Set(delivered)).toEqual(new Set(ids));
    } finally {
      await connection.close();
    }
  });

  it('reads many jobs in one statement, each with its own output after its own position, page by page', async () => {
    const connection = await QueueConnection.open({ url: TEST_URL, schema: testSchema('b') });
    try {
      const { pool, schema } = connection;
      for (const id of ['a', 'b', 'c'])
        await pool.query(
          `INSERT INTO ${schema}.jobs (id, queue, spec, state, lease_ms, started, lease_expires)
           VALUES ($1, 'q', '{}', 'running', 1000, '{"host":"h"}', now() - interval '1 second')`,
          [id],
        );
      // Job a: 450 chunks, bytes that are not text included; job b: two; job c: none.
      const chunk = (n: number) => Buffer.from([n % 256, 0, 255, 10]);
      await pool.query(
        `INSERT INTO ${schema}.job_output (job_id, n, stream, data)
         SELECT 'a', n, CASE WHEN n % 2 = 0 THEN 'stderr' ELSE 'stdout' END, data
         FROM unnest($1::bytea[]) WITH ORDINALITY AS t(data, n)`,
        [Array.from({ length: 450 }, (_, n) => chunk(n + 1))],
      );
      await pool.query(
        `INSERT INTO ${schema}.job_output (job_id, n, stream, data) VALUES ('b', 1, 'stdout', 'x'), ('b', 2, 'stdout', 'y')`,
      );
      const batches = new JobBatches(connection);
      const [a, b, c, missing] = await Promise.all([
        batches.read('a', 0),
        batches.read('b', 1),
        batches.read('c', 0),
        batches.read('nope', 0),
      ]);
      expect(a.row).toMatchObject({ state: 'running', started: '{"host":"h"}', expired: true });
      expect(a.output).toHaveLength(OUTPUT_PAGE);
      expect(a.output[0]).toEqual({ n: 1, stream: 'stdout', data: chunk(1) });
      expect(a.output[1]).toEqual({ n: 2, stream: 'stderr', data: chunk(2) });
      expect(b.output.map((entry) => entry.data.toString())).toEqual(['y']);
      expect(c).toMatchObject({ row: { state: 'running' }, output: [] });
      expect(missing).toEqual({ row: undefined, output: [] });
      const all = [...a.output];
      while (all.length < 450) all.push(...(await batches.read('a', all.at(-1)!.n)).output);
      expect(all.map((entry) => entry.n)).toEqual(Array.from({ length: 450 }, (_, n) => n + 1));
      expect(all.every((entry) => entry.data.equals(chunk(entry.n)))).toBe(true);
    } finally {
      await connection.close();
    }
  });
});
