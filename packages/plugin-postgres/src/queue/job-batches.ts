import { QUEUE_CHANNEL, type QueueConnection } from './queue-connection.js';

/** A job to put on the queue: its row in `jobs` and its pg-boss message. */
export interface JobToEnqueue {
  id: string;
  queue: string;
  runId: string | null;
  stepId: string | null;
  /** The process spec with its runner, JSON. */
  spec: string;
  leaseMs: number;
}

/** A job's row as the coordinator reads it. */
export interface JobRow {
  state: string;
  worker: string | null;
  started: string | null;
  exit: string | null;
  error: string | null;
  expired: boolean;
}

/** One output chunk of a job's process, numbered from 1 in the order the worker wrote them. */
export interface JobOutputChunk {
  n: number;
  stream: string;
  data: Buffer;
}

/** What one read of a job returns: its row and the output chunks after the ones already passed on. */
export interface JobRead {
  row: JobRow | undefined;
  output: JobOutputChunk[];
}

/** How many output chunks one read returns at most per job (the caller reads again for more). */
export const OUTPUT_PAGE = 200;

/** How long a read waits for the reads of other jobs before it goes out (ms). */
const READ_WINDOW_MS = 3;

/** Requests made in the same turn of the event loop go out together, at most this many per statement. */
const MAX_BATCH = 500;

interface Pending<T, R> {
  request: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Collects the requests made in one turn of the event loop and runs them as one call: many steps become
 * ready at once (a fan-out), and many jobs change at once (their notifications arrive together), so one
 * statement does the work of many round trips. Each request gets its own result, or the batch's error.
 */
class Batcher<T, R> {
  #pending: Array<Pending<T, R>> = [];
  #scheduled = false;

  constructor(
    private readonly run: (requests: readonly T[]) => Promise<readonly R[]>,
    /** How long the first request waits for others (ms); 0: the rest of this turn of the event loop. */
    private readonly windowMs = 0,
  ) {}

  submit(request: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ request, resolve, reject });
      if (this.#scheduled) return;
      this.#scheduled = true;
      const flush = (): void => {
        this.#scheduled = false;
        const pending = this.#pending;
        this.#pending = [];
        for (let from = 0; from < pending.length; from += MAX_BATCH)
          void this.#flush(pending.slice(from, from + MAX_BATCH));
      };
      if (this.windowMs > 0) setTimeout(flush, this.windowMs);
      else setImmediate(flush);
    });
  }

  async #flush(batch: Array<Pending<T, R>>): Promise<void> {
    try {
      const results = await this.run(batch.map((entry) => entry.request));
      batch.forEach((entry, n) => entry.resolve(results[n]!));
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    }
  }
}

/**
 * The coordinator's statements about jobs, batched across all the steps of this process: enqueues (one
 * insert of the job rows, one pg-boss insert of their messages, one notification per queue) and reads
 * (one statement returns the rows of every job asked about in that turn with their new output, from one
 * snapshot: output a worker wrote before its exit is there whenever the row says `exited`).
 */
export class JobBatches {
  readonly #enqueues: Batcher<JobToEnqueue, void>;
  readonly #reads: Batcher<{ id: string; after: number }, JobRead>;

  constructor(private readonly connection: QueueConnection) {
    this.#enqueues = new Batcher((jobs) => this.#enqueue(jobs));
    // A worker's writes about one job come a millisecond or two apart (its start, its exit): a read
    // waits that long for the notifications of the others, so that one statement answers them all.
    this.#reads = new Batcher((requests) => this.#read(requests), READ_WINDOW_MS);
  }

  /**
   * Puts a job on its queue: the row first, then the message (a worker that gets the message finds the
   * row), then the notification. Written again after a lost reply, the row is kept once; a second message
   * for the same job is harmless (its claim finds the job no longer queued).
   */
  enqueue(job: JobToEnqueue): Promise<void> {
    return this.#enqueues.submit(job);
  }

  /** The job's row and up to {@link OUTPUT_PAGE} output chunks numbered after `after`. */
  read(id: string, after: number): Promise<JobRead> {
    return this.#reads.submit({ id, after });
  }

  async #enqueue(jobs: readonly JobToEnqueue[]): Promise<void[]> {
    const { pool, schema, boss } = this.connection;
    await pool.query(
      `INSERT INTO ${schema}.jobs (id, queue, run_id, step_id, spec, state, lease_ms)
       SELECT id, queue, run_id, step_id, spec, 'queued', lease_ms
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[])
         AS t(id, queue, run_id, step_id, spec, lease_ms)
       ON CONFLICT (id) DO NOTHING`,
      [
        jobs.map((job) => job.id),
        jobs.map((job) => job.queue),
        jobs.map((job) => job.runId),
        jobs.map((job) => job.stepId),
        jobs.map((job) => job.spec),
        jobs.map((job) => job.leaseMs),
      ],
    );
    await boss.insert(jobs.map((job) => ({ name: job.queue, data: { jobId: job.id } })));
    for (const queue of new Set(jobs.map((job) => job.queue))) this.connection.notify(QUEUE_CHANNEL, queue);
    return jobs.map(() => undefined);
  }

  async #read(requests: ReadonlyArray<{ id: string; after: number }>): Promise<JobRead[]> {
    const { pool, schema } = this.connection;
    const { rows } = await pool.query<
      JobRow & { id: string; ns: number[] | null; streams: string[] | null; datas: Buffer[] | null }
    >(
      `SELECT j.id, j.state, j.worker, j.started, j.exit, j.error, (j.lease_expires < now()) AS expired,
         o.ns, o.streams, o.datas
       FROM unnest($1::text[], $2::int[]) AS r(id, after)
       JOIN ${schema}.jobs j ON j.id = r.id
       LEFT JOIN LATERAL (
         SELECT array_agg(n ORDER BY n) AS ns, array_agg(stream ORDER BY n) AS streams,
           array_agg(data ORDER BY n) AS datas
         FROM (SELECT n, stream, data FROM ${schema}.job_output
               WHERE job_id = r.id AND n > r.after ORDER BY n LIMIT ${OUTPUT_PAGE}) page
       ) o ON true`,
      [requests.map((request) => request.id), requests.map((request) => request.after)],
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    return requests.map(({ id }) => {
      const found = byId.get(id);
      if (found === undefined) return { row: undefined, output: [] };
      const { ns, streams, datas, id: _id, ...row } = found;
      const output = (ns ?? []).map((n, i) => ({ n, stream: streams![i]!, data: datas![i]! }));
      return { row, output };
    });
  }
}
