import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay } from '@beamline/core';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { openPool, redactUrl, schemaIdentifier, type ConnectionOptions } from '../database/connect.js';
import { PostgresError } from '../errors/postgres-error.js';
import { ensureQueueSchema } from './queue-schema.js';
import { queueName, type Requirement } from './requirement.js';

/** Options of {@link QueueConnection.open}. */
export interface QueueConnectionOptions extends ConnectionOptions {
  /** The schema of Beamline's queue tables (default `beamline`); pg-boss uses `<schema>_boss`. */
  schema?: string;
  /** Whether this process runs pg-boss's maintenance (expiring jobs whose claim was never confirmed). */
  supervise?: boolean;
  /** Told about what goes wrong in the background (a lost connection, a failed notification). */
  onWarning?: (message: string, error: Error) => void;
}

/**
 * Notification channels: a job changed (payload: its id), a job was queued (payload: the queue), a
 * coordinator asks to cancel a job (payload: its id; only the worker holding the job acts on it).
 */
export const JOB_CHANNEL = 'beamline_job';
export const QUEUE_CHANNEL = 'beamline_queue';
export const CANCEL_CHANNEL = 'beamline_cancel';

type Listener = (payload: string) => void;

/**
 * What the coordinator's runner and a worker share: a connection pool, pg-boss (durable enqueue and
 * atomic claim with `SKIP LOCKED`) and one listening connection for `LISTEN/NOTIFY`, which reconnects by
 * itself (a restarted server); callers also poll, so a notification lost meanwhile only costs latency.
 */
export class QueueConnection {
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #queues = new Map<string, Promise<void>>();
  #listenClient: pg.Client | undefined;
  #closed = false;

  private constructor(
    readonly pool: pg.Pool,
    readonly boss: PgBoss,
    /** Quoted schema identifier of the queue tables. */
    readonly schema: string,
    readonly description: string,
    private readonly options: QueueConnectionOptions,
  ) {}

  /**
   * Connects (a wrong password or an unreachable server is a clear error here), creates the tables and
   * starts pg-boss.
   */
  static async open(options: QueueConnectionOptions): Promise<QueueConnection> {
    const schemaName = options.schema ?? 'beamline';
    const schema = schemaIdentifier(schemaName, 'schema');
    const warn = options.onWarning ?? (() => undefined);
    const pool = await openPool({
      ...options,
      onIdleError: (error) => warn(`idle PostgreSQL connection lost: ${error.message}`, error),
    });
    let boss: PgBoss | undefined;
    try {
      const client = await pool.connect();
      try {
        await ensureQueueSchema(client, schema);
      } finally {
        client.release();
      }
      boss = new PgBoss({
        connectionString: options.url,
        schema: `${schemaName}_boss`,
        max: 3,
        supervise: options.supervise ?? false,
        schedule: false,
        // Maintenance does the expiry of claims that a worker never confirmed (it died right after fetch).
        maintenanceIntervalSeconds: 30,
      });
      boss.on('error', (error) => warn(`pg-boss: ${error.message}`, error));
      await boss.start();
      const connection = new QueueConnection(
        pool,
        boss,
        schema,
        `postgres:${redactUrl(options.url)}#${schemaName}`,
        options,
      );
      await connection.#listen();
      return connection;
    } catch (error) {
      await boss?.stop({ graceful: false, wait: false }).catch(() => undefined);
      await pool.end().catch(() => undefined);
      if (error instanceof PostgresError) throw error;
      throw new PostgresError(
        'POSTGRES_QUERY_FAILED',
        `setting up the queue in ${redactUrl(options.url)} failed: ${String((error as Error).message ?? error)}`,
        { cause: error },
      );
    }
  }

  /**
   * The pg-boss queue for a requirement, created (and described for workers) on first use. Creating a
   * pg-boss queue is DDL (a partition): concurrent creations of the same queue deadlock, so this process
   * creates each queue once, and processes take an advisory lock around the creation.
   */
  ensureQueue(requirement: Requirement): Promise<string> {
    const name = queueName(requirement);
    let creating = this.#queues.get(name);
    if (creating === undefined) {
      creating = this.#createQueue(name, requirement);
      this.#queues.set(name, creating);
      // A failed creation is tried again by the next caller.
      creating.catch(() => this.#queues.delete(name));
    }
    return creating.then(() => name);
  }

  async #createQueue(name: string, requirement: Requirement): Promise<void> {
    const known = await this.pool.query(`SELECT 1 FROM ${this.schema}.queues WHERE name = $1`, [name]);
    if (known.rowCount === 1) return;
    const client = await this.pool.connect();
    const ignore = (): void => undefined;
    client.on('error', ignore);
    try {
      await client.query('SELECT pg_advisory_lock(hashtext($1))', [`beamline-queue-create:${this.schema}`]);
      try {
        const again = await client.query(`SELECT 1 FROM ${this.schema}.queues WHERE name = $1`, [name]);
        if (again.rowCount === 1) return;
        if ((await this.boss.getQueue(name)) === null) {
          await this.boss.createQueue(name, {
            name,
            retryLimit: 1_000_000,
            expireInSeconds: 60,
          });
        }
        await client.query(
          `INSERT INTO ${this.schema}.queues (name, requirement) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
          [name, JSON.stringify(requirement)],
        );
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtext($1))', [
          `beamline-queue-create:${this.schema}`,
        ]);
      }
    } finally {
      client.off('error', ignore);
      client.release();
    }
  }

  /** Every queue with its requirement. */
  async queues(): Promise<Array<{ name: string; requirement: Requirement }>> {
    const { rows } = await this.pool.query<{ name: string; requirement: string }>(
      `SELECT name, requirement FROM ${this.schema}.queues ORDER BY name`,
    );
    return rows.map((row) => ({ name: row.name, requirement: JSON.parse(row.requirement) as Requirement }));
  }

  /** Sends a notification (best effort: pollers catch up without it). */
  notify(channel: string, payload: string): void {
    this.pool.query('SELECT pg_notify($1, $2)', [channel, payload]).catch(() => undefined);
  }

  /** Calls `listener` with the payload of every notification on `channel`; returns the unsubscribe. */
  on(channel: string, listener: Listener): () => void {
    let set = this.#listeners.get(channel);
    if (set === undefined) this.#listeners.set(channel, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const client = this.#listenClient;
    this.#listenClient = undefined;
    await client?.end().catch(() => undefined);
    await this.boss.stop({ graceful: false, wait: true, close: true }).catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }

  get closed(): boolean {
    return this.#closed;
  }

  async #listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.url,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 10_000,
    });
    client.on('notification', (message) => {
      for (const listener of this.#listeners.get(message.channel) ?? []) listener(message.payload ?? '');
    });
    client.on('error', (error) => {
      this.options.onWarning?.(`notification connection lost: ${error.message}`, error);
      void this.#relisten(client);
    });
    client.on('end', () => void this.#relisten(client));
    await client.connect();
    await client.query(`LISTEN ${JOB_CHANNEL}; LISTEN ${QUEUE_CHANNEL}; LISTEN ${CANCEL_CHANNEL}`);
    this.#listenClient = client;
  }

  /** Reconnects the listening connection with backoff until it works or the connection is closed. */
  async #relisten(lost: pg.Client): Promise<void> {
    if (this.#closed || this.#listenClient !== lost) return;
    this.#listenClient = undefined;
    lost.removeAllListeners('end');
    await lost.end().catch(() => undefined);
    for (let attempt = 1; !this.#closed; attempt++) {
      await sleep(
        backoffDelay({ initialDelayMs: 250, coefficient: 2, maxDelayMs: 5_000, jitter: 0.2 }, attempt),
      );
      if (this.#closed) return;
      try {
        await this.#listen();
        // What was missed meanwhile: wake every listener once.
        for (const set of this.#listeners.values()) for (const listener of set) listener('');
        return;
      } catch {
        // Still down: try again.
      }
    }
  }
}
