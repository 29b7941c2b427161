import type Database from 'better-sqlite3';

/**
 * A prepared statement of the store's connection: what the store uses of better-sqlite3's (named here so
 * that the statements' types can be written in declarations).
 */
export interface Statement {
  run(...params: unknown[]): Database.RunResult;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
}

/** The statements a store prepares once, when it opens. */
export type Statements = ReturnType<typeof prepareStatements>;

/** Rows per `readEvents` page. */
export const PAGE_ROWS = 2000;

/** Prepares the statements of everyday work (garbage collection prepares its own when it runs). */
export function prepareStatements(db: Database.Database) {
  const p = (sql: string): Statement => db.prepare(sql);
  // Statements of one column give its value instead of a row object.
  const pluck = (sql: string): Statement => db.prepare(sql).pluck();
  const eventsFrom = (where: string): Statement =>
    p(
      `SELECT seq, body, text_offset, text_length FROM events WHERE run_id = ? AND seq > ? ${where} ORDER BY seq LIMIT ${PAGE_ROWS}`,
    );
  return {
    insertRun: p(
      `INSERT INTO runs (id, pipeline, cwd, source, created_at, updated_at, status, last_seq)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertRunSpec: p('INSERT INTO run_specs (run_id, plan, params, steps_in_rows) VALUES (?, ?, ?, ?)'),
    insertPlanStep: p('INSERT INTO plan_steps (run_id, position, spec) VALUES (?, ?, ?)'),
    planSteps: pluck('SELECT spec FROM plan_steps WHERE run_id = ? ORDER BY position'),
    runExists: pluck('SELECT 1 FROM runs WHERE id = ?'),
    getRun: p(
      `SELECT id, pipeline, plan, params, cwd, source, created_at, steps_in_rows
       FROM runs JOIN run_specs ON run_specs.run_id = runs.id WHERE id = ?`,
    ),
    getRunHead: p(
      `SELECT pipeline, created_at, updated_at, status, last_seq, cancel_reason, error,
         owner_pid, owner_host, owner_boot_id, owner_start_time FROM runs WHERE id = ?`,
    ),
    updateRun: p(
      'UPDATE runs SET updated_at = ?, status = ?, last_seq = ?, cancel_reason = ?, error = ? WHERE id = ?',
    ),
    listRuns: p(
      `SELECT id, pipeline, status, created_at, updated_at, owner_pid, owner_host, owner_boot_id, owner_start_time
       FROM runs ORDER BY created_at DESC, rowid DESC LIMIT ?`,
    ),
    listRunsWithStatus: p(
      `SELECT id, pipeline, status, created_at, updated_at, owner_pid, owner_host, owner_boot_id, owner_start_time
       FROM runs WHERE status = ? ORDER BY created_at DESC, rowid DESC LIMIT ?`,
    ),
    countSteps: p('SELECT status, count(*) AS n FROM steps WHERE run_id = ? GROUP BY status'),
    insertEvent: p(
      `INSERT INTO events (run_id, seq, type, step_id, time, body, text_offset, text_length)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    events: eventsFrom(''),
    eventsOfTypes: eventsFrom('AND type IN (SELECT value FROM json_each(?))'),
    eventsOfStep: eventsFrom('AND step_id = ?'),
    eventsOfStepAndTypes: eventsFrom('AND step_id = ? AND type IN (SELECT value FROM json_each(?))'),
    getStep: pluck('SELECT state FROM steps WHERE run_id = ? AND step_id = ?'),
    // Plan order first, then the steps outside the plan.
    stepsOfRun: pluck(
      'SELECT state FROM steps WHERE run_id = ? ORDER BY position IS NULL, position, step_id',
    ),
    // OR IGNORE: a plan that lists an id twice keeps its first (see pendingSteps).
    insertStep: p(
      'INSERT OR IGNORE INTO steps (run_id, step_id, position, status, state) VALUES (?, ?, ?, ?, ?)',
    ),
    upsertStep: p(
      `INSERT INTO steps (run_id, step_id, status, state) VALUES (?, ?, ?, ?)
       ON CONFLICT (run_id, step_id) DO UPDATE SET status = excluded.status, state = excluded.state`,
    ),
    getCache: p('SELECT * FROM cache WHERE key = ?'),
    putCache: p(
      `INSERT OR REPLACE INTO cache (key, scope, key_parts, outputs, artifacts, run_id, step_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    previousCache: p(
      'SELECT * FROM cache WHERE scope = ? AND created_at < ? ORDER BY created_at DESC, rowid DESC LIMIT 1',
    ),
    previousCacheExcluding: p(
      'SELECT * FROM cache WHERE scope = ? AND created_at < ? AND run_id <> ? ORDER BY created_at DESC, rowid DESC LIMIT 1',
    ),
    requestCancel: p('UPDATE runs SET cancel_reason = ? WHERE id = ? AND cancel_reason IS NULL'),
    cancelReason: pluck('SELECT cancel_reason FROM runs WHERE id = ?'),
    getOwner: p('SELECT owner_pid, owner_host, owner_boot_id, owner_start_time FROM runs WHERE id = ?'),
    setOwner: p(
      'UPDATE runs SET owner_pid = ?, owner_host = ?, owner_boot_id = ?, owner_start_time = ? WHERE id = ?',
    ),
    textGeneration: pluck("SELECT value FROM meta WHERE key = 'text_generation'"),
    releaseRun: p(
      `UPDATE runs SET owner_pid = NULL, owner_host = NULL, owner_boot_id = NULL, owner_start_time = NULL
       WHERE id = ? AND owner_pid = ? AND owner_host = ?`,
    ),
  };
}
