import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { currentProcessIdentity, hostBootId, LocalProcessRunner, type RunnerLookup } from '@beamline/core';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TestCluster, waitFor } from '../../test/support/cluster.js';
import { dropTestSchemas, postgresAvailable, TEST_URL, testSchema } from '../../test/support/database.js';
import { QueueConnection } from '../queue/queue-connection.js';
import { JOB_MARK, OrphanReaper } from './orphan-reaper.js';

const available = await postgresAvailable();

/** `R`, `S`, … of a process, or undefined once it is gone (a zombie counts as gone: nothing is left to stop). */
function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state === 'Z' || state === 'X' ? undefined : state;
  } catch {
    return undefined;
  }
}

/** Live processes of process group `pgid`. */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') members.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return members;
}

async function query<T extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: TEST_URL });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

describe.skipIf(!available)('orphaned processes of dead workers', () => {
  let cluster: TestCluster | undefined;
  const stray: number[] = [];
  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
    for (const pid of stray.splice(0)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone: what the test wanted.
      }
    }
  });
  afterAll(dropTestSchemas);

  it('kill -9 of a worker mid-step: a worker on the same host stops the process group it left running', async () => {
    cluster = new TestCluster();
    const runtime = await cluster.coordinator('3s');
    const a = await cluster.worker({}, { WORKER_TAG: 'A' });
    // On worker A the step starts a child and sleeps for ten minutes (a training job holding a GPU); on
    // the retry it ends at once.
    const run = await runtime.run({
      name: 'orphan',
      steps: {
        train: {
          uses: 'exec',
          retry: { attempts: 3, initialDelayMs: 100 },
          with: {
            command: `echo "$WORKER_TAG $$" >> starts.log; if [ "$WORKER_TAG" = A ]; then sleep 600 & wait; fi; echo "::output by=$WORKER_TAG"`,
          },
        },
      },
    });
    await waitFor(() => cluster!.read('starts.log').length === 1, 60_000, 'the step to start on A');
    const pid = Number(cluster.read('starts.log')[0]!.split(' ')[1]);
    stray.push(pid);
    // The group: the shell and its `sleep`.
    await waitFor(() => groupMembers(pid).length >= 2, 30_000, 'the step to start its child');
    // The worker records the process with the job (pid, group, boot id, start time) once it started.
    await waitFor(
      async () =>
        (await query<{ started: string | null }>(`SELECT started FROM "${cluster!.schema}".jobs`)).some(
          (row) => row.started?.includes('"process"') === true,
        ),
      30_000,
      'the process record',
    );
    a.child.kill('SIGKILL');
    await waitFor(() => a.child.exitCode !== null || a.child.signalCode !== null, 10_000, 'A to die');
    // Worker A is gone, its step's processes are not: they run on under PID 1.
    expect(processState(pid)).toBeDefined();
    expect(groupMembers(pid).length).toBeGreaterThanOrEqual(2);

    const b = await cluster.worker({}, { WORKER_TAG: 'B' });
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    expect(result.steps.train?.outputs).toMatchObject({ by: 'B' });
    // Once A's lease is gone, B (on the same host) stops what A left: the whole group, not just its leader.
    await waitFor(() => groupMembers(pid).length === 0, 60_000, "A's orphaned process group to be stopped");
    // Its message may come a moment after the group is gone.
    await waitFor(
      () => b.lines.some((line) => line.includes(`stopped process group ${pid} of job`)),
      30_000,
      "B's message",
    );
    const rows = await query<{ worker: string; state: string; reaped: string | null }>(
      `SELECT worker, state, reaped FROM "${cluster.schema}".jobs ORDER BY created_at`,
    );
    expect(rows[0]).toMatchObject({ worker: a.name, state: 'lost', reaped: 'stopped' });
    // B's own job was never touched.
    expect(rows.at(-1)).toMatchObject({ worker: b.name, state: 'exited', reaped: null });
  });

  it('a worker starting on the host finds the dead worker gone: its step is retried before the lease runs out', async () => {
    cluster = new TestCluster();
    // A lease far longer than the test may take: only the dead worker's process record can end it early.
    const runtime = await cluster.coordinator('600s');
    const a = await cluster.worker({}, { WORKER_TAG: 'A' });
    const run = await runtime.run({
      name: 'restart',
      steps: {
        train: {
          uses: 'exec',
          retry: { attempts: 3, initialDelayMs: 100 },
          with: {
            command: `echo "$WORKER_TAG $$" >> starts.log; if [ "$WORKER_TAG" = A ]; then sleep 600 & wait; fi; echo "::output by=$WORKER_TAG"`,
          },
        },
      },
    });
    await waitFor(
      async () =>
        (await query<{ started: string | null }>(`SELECT started FROM "${cluster!.schema}".jobs`)).some(
          (row) => row.started?.includes('"workerProcess"') === true,
        ),
      60_000,
      'the process record',
    );
    const pid = Number(cluster.read('starts.log')[0]!.split(' ')[1]);
    stray.push(pid);
    a.child.kill('SIGKILL');
    await waitFor(() => a.child.exitCode !== null || a.child.signalCode !== null, 10_000, 'A to die');
    // A worker restarted on the host (as a supervisor would): A's job is lost at once, its process stopped.
    const killedAt = Date.now();
    await cluster.worker({}, { WORKER_TAG: 'B' });
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    expect(result.steps.train?.outputs).toMatchObject({ by: 'B' });
    expect(Date.now() - killedAt).toBeLessThan(300_000);
    await waitFor(() => groupMembers(pid).length === 0, 60_000, "A's orphaned process group to be stopped");
    const rows = await query<{ worker: string; state: string; reaped: string | null }>(
      `SELECT worker, state, reaped FROM "${cluster.schema}".jobs ORDER BY created_at`,
    );
    expect(rows[0]).toMatchObject({ worker: a.name, state: 'lost', reaped: 'stopped' });
  });

  it('stops a recorded process group only if it was started for the job (its mark), whatever the record says', async () => {
    const schema = testSchema('r');
    const connection = await QueueConnection.open({ url: TEST_URL, schema });
    const local = new LocalProcessRunner();
    const runners: RunnerLookup = {
      get: () => local,
      require: () => local,
      has: () => true,
      names: () => ['local'],
    };
    try {
      // Two live process groups recorded exactly (pid, group, boot, start time) as the processes of two
      // lost jobs: one started for its job (the worker's mark in its environment), one not (a record a
      // worker could write about any process of the host, through the gateway).
      const groups: Record<string, number> = {};
      for (const [id, env] of [
        ['marked', { ...process.env, [JOB_MARK]: 'marked' }],
        ['foreign', { ...process.env, [JOB_MARK]: 'another-job' }],
      ] as const) {
        const child = spawn('sh', ['-c', 'sleep 600 & wait'], { detached: true, stdio: 'ignore', env });
        child.unref();
        const pid = child.pid!;
        groups[id] = pid;
        stray.push(pid);
        await waitFor(() => groupMembers(pid).length >= 2, 10_000, 'the group to start');
        const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
        const startTime = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
        const recorded = {
          runner: 'local',
          pid,
          pgid: pid,
          host: hostname(),
          bootId: hostBootId(),
          startTime,
        };
        await connection.pool.query(
          `INSERT INTO "${schema}".jobs (id, queue, spec, state, worker, lease_ms, started)
           VALUES ($1, 'q', '{}', 'lost', 'dead-worker', 1000, $2)`,
          [id, JSON.stringify({ host: hostname(), worker: 'dead-worker', gpus: [], process: recorded })],
        );
      }
      // Records a worker could write through the gateway, malformed: none of them stops a sweep.
      const hostile = [
        { host: hostname(), worker: 'w', gpus: [], process: 'not an object' },
        { host: hostname(), worker: 'w', gpus: [], process: { runner: 'local', host: hostname(), pid: 'x' } },
        { host: hostname(), worker: 'w', gpus: [], process: null, workerProcess: null },
        { host: hostname(), worker: 'w', gpus: [], workerProcess: { pid: 1, host: hostname(), bootId: 7 } },
        [hostname()],
      ];
      for (const [n, started] of hostile.entries()) {
        await connection.pool.query(
          `INSERT INTO "${schema}".jobs (id, queue, spec, state, worker, lease_ms, started)
           VALUES ($1, 'q', '{}', 'lost', 'w', 1000, $2)`,
          [`hostile-${n}`, JSON.stringify(started)],
        );
      }
      const said: string[] = [];
      const outcomes = await new OrphanReaper({
        connection,
        runners,
        onMessage: (line) => said.push(line),
      }).sweep();
      expect(Object.fromEntries(outcomes)).toMatchObject({ marked: 'stopped', foreign: 'unchecked' });
      expect(outcomes.get('hostile-1')).toBe('unchecked');
      expect(groupMembers(groups.marked!)).toEqual([]);
      expect(groupMembers(groups.foreign!).length).toBeGreaterThanOrEqual(2);
      expect(said.join('\n')).toContain(`left process group ${groups.foreign} of job foreign alone`);
    } finally {
      await connection.close();
    }
  });

  it('never signals a process that merely has the recorded pid: another start time is another process', async () => {
    const schema = testSchema('r');
    const connection = await QueueConnection.open({ url: TEST_URL, schema });
    try {
      // A lost job whose record names this very test process, but with another start time (a reused pid),
      // and one recorded before a reboot (another boot id).
      const me = currentProcessIdentity();
      const reused = { runner: 'local', ...me, pgid: me.pid, startTime: (me.startTime ?? 0) + 1 };
      const rebooted = { ...reused, startTime: me.startTime, bootId: 'another-boot' };
      for (const [id, recorded] of [
        ['reused', reused],
        ['rebooted', rebooted],
      ] as const) {
        await connection.pool.query(
          `INSERT INTO "${schema}".jobs (id, queue, spec, state, worker, lease_ms, started)
           VALUES ($1, 'q', '{}', 'lost', 'dead-worker', 1000, $2)`,
          [id, JSON.stringify({ host: hostname(), worker: 'dead-worker', gpus: [], process: recorded })],
        );
      }
      const local = new LocalProcessRunner();
      const runners: RunnerLookup = {
        get: () => local,
        require: () => local,
        has: () => true,
        names: () => ['local'],
      };
      const reaper = new OrphanReaper({ connection, runners });
      const outcomes = await reaper.sweep();
      // This process does not carry the job's mark either: left alone in any case.
      expect(Object.fromEntries(outcomes)).toEqual({ reused: 'unchecked', rebooted: 'gone' });
      // Looked at once: a second sweep finds nothing more to do.
      expect((await reaper.sweep()).size).toBe(0);
      expect(processState(process.pid)).toBeDefined();
    } finally {
      await connection.close();
    }
  });
});
