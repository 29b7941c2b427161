import { hostname } from 'node:os';
import {
  CoreError,
  isBeamlineError,
  type CacheRecord,
  type CollectGarbageOptions,
  type GarbageReport,
  type ListRunsOptions,
  type ReadEventsOptions,
  type RunEvent,
  type RunOwner,
  type RunRecord,
  type RunState,
  type RunStatus,
  type RunSummary,
  type StepState,
  type StepStatus,
  type Store,
} from '@beamline/core';
import {
  applyRunEvent,
  changesStepState,
  initialRunState,
  isInterrupted,
  ownerBlocksClaim,
  runsToCollect,
  validateAppendBatch,
} from '@beamline/core/store-kit';
import type pg from 'pg';
import {
  openPool,
  redactUrl,
  retryTransient,
  schemaIdentifier,
  transaction,
  type ConnectionOptions,
} from '../database/connect.js';
import { ensureStoreSchema } from './store-schema.js';

/** Options of {@link PostgresStore.open}. */
export interface PostgresStoreOptions extends ConnectionOptions {
  /** The schema the store's tables live in (created if missing; default `beamline`). */
  schema?: string;
  /** Told about what goes wrong outside a call (an idle connection lost when the server restarted). */
  onWarning?: (message: string, error: Error) => void;
  /**
   * How long a call keeps trying while the server is unreachable or restarting (ms, default 60,000);
   * then it fails with `CORE_STORE_FAILED`.
   */
  retryMs?: number;
}

/** Events read per query: pages keep no cursor open across a `yield`. */
const PAGE = 500;

/** The row of a run's own fields. */
interface HeadRow {
  pipeline: string;
  created_at: string;
  updated_at: string;
  status: string;
  last_seq: number;
  error: string | null;
  cancel_reason: string | null;
  owner: string | null;
  next_position: number;
}

type RunHead = Omit<RunState, 'steps'>;

/** A run's head and the touched steps' states, as an append needs them. */
interface AppendHead {
  state: RunHead;
  nextPosition: number;
  steps: Array<{ id: string; state: string }>;
}

/**
 * What this store last wrote of a run (its head, and the states of the steps it wrote, as written): the
 * next append of the run needs no read while nobody else wrote it, which its compare-and-set proves.
 */
interface KnownRun {
  state: RunHead;
  nextPosition: number;
  steps: Map<string, string>;
}

/** Runs whose last write this store remembers, and steps per run (memory stays small for huge runs). */
const KNOWN_RUNS = 8;
const KNOWN_STEPS = 10_000;

/** Step statuses after which a run's events do not touch the step again (until a resume). */
const ENDED = new Set<string>(['succeeded', 'failed', 'cached', 'cancelled']);

/** One job of the distributed mode as {@link PostgresStore.queueJobs} reads it. */
export interface QueueJobRecord {
  id: string;
  /** `queued`, `running`, `exited`, `failed`, `lost` (its worker's lease ran out), `cancelled`. */
  state: string;
  /** The worker that held it last. */
  worker?: string;
  /** The host its process ran on. */
  host?: string;
}

/**
 * The {@link Store} on PostgreSQL, for runs shared by several hosts (a coordinator and its workers,
 * `beamline show` from anywhere). It keeps the same event log and materialised state as `SqliteStore`,
 * through the same reducer and rules (`@beamline/core/store-kit`): an append is one transaction that
 * checks `seq` continuity under the run's row lock, writes the events and the steps they touch, and is
 * durable (PostgreSQL's commit) when it resolves. Several processes may append to, cancel and claim the
 * same run; appends to one run are serialised by its row lock.
 */
export class PostgresStore implements Store {
  readonly description: string;
  readonly #pool: pg.Pool;
  readonly #schema: string;
  readonly #host = hostname();
  readonly #retryMs: number;
  readonly #known = new Map<string, KnownRun>();
  #closed = false;

  private constructor(pool: pg.Pool, schema: string, description: string, retryMs: number) {
    this.#pool = pool;
    this.#schema = schema;
    this.description = description;
    this.#retryMs = retryMs;
  }

  /**
   * Connects, creates the tables if needed and returns the store.
   *
   * @throws PostgresError `POSTGRES_UNREACHABLE`, `POSTGRES_AUTH_FAILED`, `POSTGRES_DATABASE_MISSING`,
   *   `POSTGRES_CONFIG_INVALID`, `POSTGRES_SCHEMA_INCOMPATIBLE`
   */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const schemaName = options.schema ?? 'beamline';
    const schema = schemaIdentifier(schemaName, 'schema');
    const onWarning = options.onWarning;
    const pool = await openPool({
      ...options,
      onIdleError: (error) => onWarning?.(`idle PostgreSQL connection lost: ${error.message}`, error),
    });
    try {
      const client = await pool.connect();
      try {
        await ensureStoreSchema(client, schema);
      } finally {
        client.release();
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    return new PostgresStore(
      pool,
      schema,
      `postgres:${redactUrl(options.url)}#${schemaName}`,
      options.retryMs ?? 60_000,
    );
  }

  createRun(run: RunRecord): Promise<void> {
    return this.#call('createRun', (again) =>
      transaction(this.#pool, async (client) => {
        const state = initialRunState(run);
        const ids = Object.keys(state.steps);
        const inserted = await client.query(
          `INSERT INTO ${this.#schema}.runs
             (id, pipeline, record, created_at, updated_at, status, last_seq, next_position)
           VALUES ($1, $2, $3, $4, $4, 'running', 0, $5) ON CONFLICT (id) DO NOTHING`,
          [run.id, run.pipeline, JSON.stringify(run), run.createdAt, ids.length],
        );
        if (inserted.rowCount === 0) {
          // Tried again after a lost reply: the first try's commit is this run.
          if (again && (await this.#sameRecord(client, run))) return;
          throw new CoreError('CORE_STORE_FAILED', `run ${run.id} already exists`, {
            details: { runId: run.id },
          });
        }
        // In slices: a 100,000-step plan is not one statement with 400,000 parameters.
        for (let from = 0; from < ids.length; from += 10_000) {
          const slice = ids.slice(from, from + 10_000);
          await client.query(
            `INSERT INTO ${this.#schema}.run_steps (run_id, step_id, position, status, state)
             SELECT $1, id, $2::int + ordinality::int - 1, 'pending', state
             FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS t(id, state)`,
            [run.id, from, slice, slice.map((id) => JSON.stringify(state.steps[id]))],
          );
        }
      }),
    );
  }

  getRun(runId: string): Promise<RunRecord | undefined> {
    return this.#call('getRun', async () => {
      const { rows } = await this.#pool.query<{ record: string }>(
        `SELECT record FROM ${this.#schema}.runs WHERE id = $1`,
        [runId],
      );
      return rows[0] === undefined ? undefined : (JSON.parse(rows[0].record) as RunRecord);
    });
  }

  listRuns(options: ListRunsOptions = {}): Promise<RunSummary[]> {
    return this.#call('listRuns', async () => {
      const limit = options.limit === undefined || options.limit < 0 ? null : options.limit;
      const { rows } = await this.#pool.query<{
        id: string;
        pipeline: string;
        status: RunStatus;
        created_at: string;
        updated_at: string;
        owner: string | null;
        counts: string | null;
      }>(
        `SELECT r.id, r.pipeline, r.status, r.created_at, r.updated_at, r.owner,
           (SELECT json_object_agg(c.status, c.n)::text FROM
              (SELECT s.status, count(*) AS n FROM ${this.#schema}.run_steps s WHERE s.run_id = r.id
               GROUP BY s.status) c) AS counts
         FROM ${this.#schema}.runs r
         WHERE $1::text IS NULL OR r.status = $1
         ORDER BY r.created_at DESC, r.ord DESC
         LIMIT $2`,
        [options.status ?? null, limit],
      );
      return rows.map((row) => {
        const summary: RunSummary = {
          id: row.id,
          pipeline: row.pipeline,
          status: row.status,
          createdAt: Number(row.created_at),
          updatedAt: Number(row.updated_at),
          counts: row.counts === null ? {} : (JSON.parse(row.counts) as Partial<Record<StepStatus, number>>),
        };
        if (isInterrupted(row.status, parseOwner(row.owner))) summary.interrupted = true;
        return summary;
      });
    });
  }

  append(runId: string, events: readonly RunEvent[]): Promise<void> {
    return this.#call('append', async (again) => {
      // One or two round trips, no transaction: the run's head with the steps the batch touches (known
      // from this store's last write of the run, or read), then one
      // statement that writes events, steps and the run's fields only if the head is still the one read
      // (a compare-and-set on `last_seq` and the cancel request: the update waits for a concurrent
      // writer's row lock and then finds the row changed). Another writer in between (another process appending to the run) makes
      // it read again, and the batch is then refused as not continuing the log, as under a lock.
      const touched = new Set<string>();
      for (const event of events) if (changesStepState(event)) touched.add(event.stepId);
      const ids = [...touched];
      for (let tries = 0; ; tries++) {
        // The first try from what this store wrote last, when it knows every touched step; else read.
        const head =
          (tries === 0 && !again ? this.#knownHead(runId, ids) : undefined) ??
          (await this.#head(this.#pool, runId, false, ids));
        if (head === undefined) throw runNotFound(runId);
        // Tried again after a lost reply: the first try's write may already hold this batch. (After a lost
        // race it does not: the other writer's batch is refused below, even if equal to this one.)
        if (again && (await this.#holdsBatch(this.#pool, runId, head.state.lastSeq, events))) return;
        validateAppendBatch(runId, head.state.lastSeq, events);
        if (events.length === 0) return;
        if (await this.#write(runId, events, ids, head)) return;
        this.#known.delete(runId);
        if (tries >= 100) {
          throw new CoreError(
            'CORE_STORE_FAILED',
            `${this.description}: the log of run ${runId} kept moving while appending (another writer)`,
          );
        }
      }
    });
  }

  /** The head an append of `runId` touching `ids` needs, from this store's last write; undefined if unknown. */
  #knownHead(runId: string, ids: readonly string[]): AppendHead | undefined {
    const known = this.#known.get(runId);
    if (known === undefined) return undefined;
    const steps: AppendHead['steps'] = [];
    for (const id of ids) {
      const state = known.steps.get(id);
      if (state === undefined) return undefined;
      steps.push({ id, state });
    }
    return { state: known.state, nextPosition: known.nextPosition, steps };
  }

  /** Remembers what an append wrote (the run's head, the touched steps) for the run's next append. */
  #remember(
    runId: string,
    state: RunState,
    nextPosition: number,
    written: Map<string, string>,
    ended: ReadonlySet<string>,
  ): void {
    let known = this.#known.get(runId);
    this.#known.delete(runId);
    const { steps: _steps, ...head } = state;
    known ??= { state: head, nextPosition, steps: new Map() };
    known.state = head;
    known.nextPosition = nextPosition;
    for (const [id, json] of written) {
      known.steps.delete(id);
      if (!ended.has(id)) known.steps.set(id, json);
    }
    // The steps written longest ago go first; a step not known is read again.
    for (const id of known.steps.keys()) {
      if (known.steps.size <= KNOWN_STEPS) break;
      known.steps.delete(id);
    }
    this.#known.set(runId, known);
    for (const id of this.#known.keys()) {
      if (this.#known.size <= KNOWN_RUNS) break;
      this.#known.delete(id);
    }
  }

  /** Writes a batch if the run's head is still `head`; false when another append came first. */
  async #write(
    runId: string,
    events: readonly RunEvent[],
    ids: readonly string[],
    head: AppendHead,
  ): Promise<boolean> {
    const steps: Record<string, StepState> = {};
    const known = new Set<string>();
    for (const row of head.steps) {
      setOwn(steps, row.id, JSON.parse(row.state) as StepState);
      known.add(row.id);
    }
    const state: RunState = { ...head.state, steps };
    for (const event of events) applyRunEvent(state, event);
    let next = head.nextPosition;
    const positions = ids.map((id) => (known.has(id) ? -1 : next++));
    // The head's update runs first (the inserts read its result), and only when the log is where it was
    // read and no cancel request came in between (it would otherwise be overwritten).
    const written = new Map(ids.map((id) => [id, JSON.stringify(ownStep(steps, id))]));
    const { rows } = await this.#pool.query<{ written: boolean }>(
      `WITH head AS (
         UPDATE ${this.#schema}.runs SET updated_at = $10, status = $11, last_seq = $12, error = $13,
           cancel_reason = $14, next_position = $15
         WHERE id = $1 AND last_seq = $16 AND next_position = $17
           AND cancel_reason IS NOT DISTINCT FROM $18 RETURNING id
       ), written_events AS (
         INSERT INTO ${this.#schema}.events (run_id, seq, step_id, type, body)
         SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::text[])
         WHERE EXISTS (SELECT 1 FROM head)
       ), written_steps AS (
         INSERT INTO ${this.#schema}.run_steps (run_id, step_id, position, status, state)
         SELECT $1, * FROM unnest($6::text[], $7::int[], $8::text[], $9::text[])
         WHERE EXISTS (SELECT 1 FROM head)
         ON CONFLICT (run_id, step_id) DO UPDATE SET status = excluded.status, state = excluded.state
       )
       SELECT EXISTS (SELECT 1 FROM head) AS written`,
      [
        runId,
        events.map((event) => event.seq),
        events.map((event) => ('stepId' in event ? event.stepId : null)),
        events.map((event) => event.type),
        events.map((event) => JSON.stringify(event)),
        ids,
        positions,
        ids.map((id) => ownStep(steps, id).status),
        ids.map((id) => written.get(id)),
        state.updatedAt,
        state.status,
        state.lastSeq,
        state.error === undefined ? null : JSON.stringify(state.error),
        state.cancelReason ?? null,
        next,
        head.state.lastSeq,
        head.nextPosition,
        // A cancel request (requestCancel) changes the row without an event: it too must be as read.
        head.state.cancelReason ?? null,
      ],
    );
    if (rows[0]?.written !== true) return false;
    // Steps the head read but this batch did not change are known as read. A step that ended is not
    // kept: nothing touches it again in this run but a resume, which reads it.
    for (const row of head.steps) if (!written.has(row.id)) written.set(row.id, row.state);
    const ended = new Set(ids.filter((id) => ENDED.has(ownStep(steps, id).status)));
    this.#remember(runId, state, next, written, ended);
    return true;
  }

  async *readEvents(runId: string, options: ReadEventsOptions = {}): AsyncIterable<RunEvent> {
    let after = options.afterSeq ?? 0;
    const types = options.types === undefined ? null : [...options.types];
    for (;;) {
      const rows = await this.#call('readEvents', async () => {
        const result = await this.#pool.query<{ seq: number; body: string }>(
          `SELECT seq, body FROM ${this.#schema}.events
           WHERE run_id = $1 AND seq > $2 AND ($3::text IS NULL OR step_id = $3)
             AND ($4::text[] IS NULL OR type = ANY($4::text[]))
           ORDER BY seq LIMIT ${PAGE}`,
          [runId, after, options.stepId ?? null, types],
        );
        return result.rows;
      });
      for (const row of rows) yield JSON.parse(row.body) as RunEvent;
      if (rows.length < PAGE) return;
      after = rows[rows.length - 1]!.seq;
    }
  }

  runState(runId: string): Promise<RunState | undefined> {
    return this.#call('runState', async () => {
      // One snapshot for the run's fields and its steps.
      return transaction(this.#pool, async (client) => {
        await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
        const head = await this.#head(client, runId, false);
        if (head === undefined) return undefined;
        const { rows } = await client.query<{ step_id: string; state: string }>(
          `SELECT step_id, state FROM ${this.#schema}.run_steps WHERE run_id = $1 ORDER BY position`,
          [runId],
        );
        const steps: Record<string, StepState> = {};
        for (const row of rows) setOwn(steps, row.step_id, JSON.parse(row.state) as StepState);
        const state: RunState = { ...head.state, steps };
        if (isInterrupted(state.status, head.owner)) state.interrupted = true;
        return state;
      });
    });
  }

  getCache(key: string): Promise<CacheRecord | undefined> {
    return this.#call('getCache', async () => {
      const { rows } = await this.#pool.query<{ record: string }>(
        `SELECT record FROM ${this.#schema}.cache WHERE key = $1`,
        [key],
      );
      return rows[0] === undefined ? undefined : (JSON.parse(rows[0].record) as CacheRecord);
    });
  }

  putCache(record: CacheRecord): Promise<void> {
    return this.#call('putCache', async () => {
      await this.#pool.query(
        `INSERT INTO ${this.#schema}.cache (key, scope, run_id, created_at, write_order, record)
         VALUES ($1, $2, $3, $4, nextval('${this.#schema}.cache_order'), $5)
         ON CONFLICT (key) DO UPDATE SET scope = excluded.scope, run_id = excluded.run_id,
           created_at = excluded.created_at, write_order = excluded.write_order, record = excluded.record`,
        [record.key, record.scope, record.runId, record.createdAt, JSON.stringify(record)],
      );
    });
  }

  previousCache(scope: string, before: number, excludeRunId?: string): Promise<CacheRecord | undefined> {
    return this.#call('previousCache', async () => {
      const { rows } = await this.#pool.query<{ record: string }>(
        `SELECT record FROM ${this.#schema}.cache
         WHERE scope = $1 AND created_at < $2 AND ($3::text IS NULL OR run_id <> $3)
         ORDER BY created_at DESC, write_order DESC LIMIT 1`,
        [scope, before, excludeRunId ?? null],
      );
      return rows[0] === undefined ? undefined : (JSON.parse(rows[0].record) as CacheRecord);
    });
  }

  requestCancel(runId: string, reason: string): Promise<void> {
    // The request changes the run's row: an append must read it (and would find the change anyway).
    this.#known.delete(runId);
    return this.#call('requestCancel', async () => {
      const result = await this.#pool.query(
        `UPDATE ${this.#schema}.runs SET cancel_reason = COALESCE(cancel_reason, $2) WHERE id = $1`,
        [runId, reason],
      );
      if (result.rowCount === 0) throw runNotFound(runId);
    });
  }

  cancelRequested(runId: string): Promise<string | undefined> {
    return this.#call('cancelRequested', async () => {
      const { rows } = await this.#pool.query<{ cancel_reason: string | null }>(
        `SELECT cancel_reason FROM ${this.#schema}.runs WHERE id = $1`,
        [runId],
      );
      return rows[0]?.cancel_reason ?? undefined;
    });
  }

  claimRun(runId: string, owner: RunOwner): Promise<void> {
    return this.#call('claimRun', () =>
      transaction(this.#pool, async (client) => {
        const head = await this.#lockHead(client, runId);
        if (head.owner !== undefined && ownerBlocksClaim(head.owner, owner, this.#host)) {
          throw new CoreError(
            'CORE_RUN_ACTIVE',
            `run ${runId} is driven by process ${head.owner.pid} on ${head.owner.host}`,
            { details: { runId, ownerPid: head.owner.pid, ownerHost: head.owner.host } },
          );
        }
        await client.query(`UPDATE ${this.#schema}.runs SET owner = $2 WHERE id = $1`, [
          runId,
          JSON.stringify(owner),
        ]);
      }),
    );
  }

  releaseRun(runId: string, owner: RunOwner): Promise<void> {
    return this.#call('releaseRun', () =>
      transaction(this.#pool, async (client) => {
        const head = await this.#head(client, runId, true);
        if (head?.owner?.pid === owner.pid && head.owner.host === owner.host) {
          await client.query(`UPDATE ${this.#schema}.runs SET owner = NULL WHERE id = $1`, [runId]);
        }
      }),
    );
  }

  collectGarbage(options: CollectGarbageOptions): Promise<GarbageReport> {
    return this.#call('collectGarbage', async () => {
      const { rows } = await this.#pool.query<{
        id: string;
        status: RunStatus;
        created_at: string;
        updated_at: string;
      }>(
        `SELECT id, status, created_at, updated_at FROM ${this.#schema}.runs ORDER BY created_at DESC, ord DESC`,
      );
      const victims = runsToCollect(
        rows.map((row) => ({
          id: row.id,
          status: row.status,
          createdAt: Number(row.created_at),
          updatedAt: Number(row.updated_at),
        })),
        options,
        Date.now(),
      );
      const dryRun = options.dryRun === true;
      let events = 0;
      let reclaimedBytes = 0;
      for (const id of victims) {
        this.#known.delete(id);
        // One run per transaction; a run that started running again meanwhile (resume) is left alone.
        await transaction(this.#pool, async (client) => {
          const sizes = await client.query<{ n: string; bytes: string | null }>(
            `SELECT count(*) AS n, sum(octet_length(body)) AS bytes FROM ${this.#schema}.events WHERE run_id = $1`,
            [id],
          );
          if (!dryRun) {
            const deleted = await client.query(
              `DELETE FROM ${this.#schema}.runs WHERE id = $1 AND status <> 'running'`,
              [id],
            );
            if (deleted.rowCount === 0) return;
          }
          events += Number(sizes.rows[0]?.n ?? 0);
          reclaimedBytes += Number(sizes.rows[0]?.bytes ?? 0);
        });
      }
      return { runs: victims, events, reclaimedBytes, dryRun };
    });
  }

  /**
   * The distributed mode's record of the given jobs (a step's attempts name theirs in their `process`
   * event): which worker held each, on which host, and how it ended (`exited`, `failed`, `lost`, …). Reads
   * the queue's `jobs` table in this store's schema (where `beamline run --queue` keeps it); none when
   * the schema has no queue tables.
   */
  queueJobs(jobIds: readonly string[]): Promise<QueueJobRecord[]> {
    return this.#call('queueJobs', async () => {
      if (jobIds.length === 0) return [];
      const { rows: found } = await this.#pool.query<{ jobs: string | null }>(
        `SELECT to_regclass($1)::text AS jobs`,
        [`${this.#schema}.jobs`],
      );
      if (found[0]?.jobs == null) return [];
      const { rows } = await this.#pool.query<{
        id: string;
        worker: string | null;
        state: string;
        started: string | null;
      }>(`SELECT id, worker, state, started FROM ${this.#schema}.jobs WHERE id = ANY($1::text[])`, [
        [...jobIds],
      ]);
      return rows.map((row) => {
        const host = row.started === null ? undefined : (JSON.parse(row.started) as { host?: string }).host;
        return {
          id: row.id,
          state: row.state,
          ...(row.worker === null ? {} : { worker: row.worker }),
          ...(typeof host === 'string' ? { host } : {}),
        };
      });
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }

  async #sameRecord(client: pg.PoolClient, run: RunRecord): Promise<boolean> {
    const { rows } = await client.query<{ record: string }>(
      `SELECT record FROM ${this.#schema}.runs WHERE id = $1`,
      [run.id],
    );
    return rows[0]?.record === JSON.stringify(run);
  }

  /** Whether the log already ends with exactly this batch (same seqs, same events). */
  async #holdsBatch(
    client: pg.Pool | pg.PoolClient,
    runId: string,
    lastSeq: number,
    events: readonly RunEvent[],
  ): Promise<boolean> {
    const last = events[events.length - 1];
    if (last === undefined || last.seq !== lastSeq || events[0]!.runId !== runId) return false;
    const { rows } = await client.query<{ body: string }>(
      `SELECT body FROM ${this.#schema}.events WHERE run_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq`,
      [runId, events[0]!.seq, last.seq],
    );
    return rows.length === events.length && rows.every((row, i) => row.body === JSON.stringify(events[i]));
  }

  /** The run's own fields under its row lock (appends and claims of one run are serialised by it). */
  async #lockHead(
    client: pg.PoolClient,
    runId: string,
  ): Promise<{ state: RunHead; owner?: RunOwner; nextPosition: number }> {
    const head = await this.#head(client, runId, true);
    if (head === undefined) throw runNotFound(runId);
    return head;
  }

  async #head(
    client: pg.Pool | pg.PoolClient,
    runId: string,
    lock: boolean,
    stepIds: readonly string[] = [],
  ): Promise<
    | { state: RunHead; owner?: RunOwner; nextPosition: number; steps: Array<{ id: string; state: string }> }
    | undefined
  > {
    const { rows } = await client.query<HeadRow & { steps: string | null }>(
      `SELECT pipeline, created_at, updated_at, status, last_seq, error, cancel_reason, owner, next_position,
         CASE WHEN cardinality($2::text[]) = 0 THEN NULL ELSE
           (SELECT json_agg(json_build_object('id', s.step_id, 'state', s.state))::text
            FROM ${this.#schema}.run_steps s WHERE s.run_id = $1 AND s.step_id = ANY($2::text[])) END AS steps
       FROM ${this.#schema}.runs WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
      [runId, stepIds],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    const state: RunHead = {
      id: runId,
      pipeline: row.pipeline,
      status: row.status as RunStatus,
      createdAt: Number(row.created_at),
      updatedAt: Number(row.updated_at),
      lastSeq: row.last_seq,
    };
    if (row.error !== null) state.error = JSON.parse(row.error) as RunState['error'] & object;
    if (row.cancel_reason !== null) state.cancelReason = row.cancel_reason;
    const owner = parseOwner(row.owner);
    const steps = row.steps === null ? [] : (JSON.parse(row.steps) as Array<{ id: string; state: string }>);
    return { state, ...(owner === undefined ? {} : { owner }), nextPosition: row.next_position, steps };
  }

  /** Runs a call; anything but a Beamline error (a lost connection, a failed query) is `CORE_STORE_FAILED`. */
  async #call<T>(what: string, work: (again: boolean) => Promise<T>): Promise<T> {
    if (this.#closed) throw new CoreError('CORE_STORE_FAILED', `${this.description} is closed (${what})`);
    let again = false;
    try {
      // A server restarting, a connection cut: tried again on a new connection for a while, so that a
      // database restart does not end the runs that use it.
      return await retryTransient(() => {
        const tried = work(again);
        again = true;
        return tried;
      }, this.#retryMs);
    } catch (error) {
      if (isBeamlineError(error)) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new CoreError('CORE_STORE_FAILED', `${this.description}: ${what} failed: ${message}`, {
        cause: error,
        retryable: true,
        details: { store: this.description, operation: what },
      });
    }
  }
}

function runNotFound(runId: string): CoreError {
  return new CoreError('CORE_RUN_NOT_FOUND', `run ${runId} not found`, { details: { runId } });
}

function parseOwner(text: string | null): RunOwner | undefined {
  return text === null ? undefined : (JSON.parse(text) as RunOwner);
}

/** Sets a step id as an own data property: `__proto__` is a step id like any other here. */
function setOwn(steps: Record<string, StepState>, id: string, state: StepState): void {
  Object.defineProperty(steps, id, { value: state, writable: true, enumerable: true, configurable: true });
}

function ownStep(steps: Record<string, StepState>, id: string): StepState {
  return Object.hasOwn(steps, id) ? steps[id]! : { stepId: id, status: 'pending', attempt: 0 };
}
