import { Tokens, type Runtime } from '@beamline/core';
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { dropTestSchemas, postgresAvailable, TEST_URL } from '../../test/support/database.js';
import { TestCluster, waitFor, type WorkerProcess } from '../../test/support/cluster.js';

const available = await postgresAvailable();

/** The step every test runs: it says which worker ran it, then works for a while. */
function slowStep(seconds: number, extra: Record<string, unknown> = {}) {
  return {
    uses: 'exec',
    needs: [],
    retry: { attempts: 3, initialDelayMs: 100 },
    with: {
      command: `echo "$WORKER_TAG $$" >> starts.log; sleep ${seconds}; echo "::output by=$WORKER_TAG"; echo "$WORKER_TAG" >> ends.log`,
    },
    ...extra,
  };
}

async function jobRows(schema: string): Promise<Array<{ state: string; worker: string; refused: number }>> {
  const client = new pg.Client({ connectionString: TEST_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ state: string; worker: string; refused: number }>(
      `SELECT state, worker, refused FROM "${schema}".jobs ORDER BY created_at`,
    );
    return rows;
  } finally {
    await client.end();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!available)('distributed mode: leases, cancel, labels, shared folder', () => {
  let cluster: TestCluster;
  afterEach(async () => cluster?.close());
  afterAll(dropTestSchemas);

  async function twoWorkers(): Promise<[Runtime, WorkerProcess, WorkerProcess]> {
    const runtime = await cluster.coordinator('3s');
    const a = await cluster.worker({}, { WORKER_TAG: 'A' });
    const b = await cluster.worker({}, { WORKER_TAG: 'B' });
    return [runtime, a, b];
  }

  const holder = (a: WorkerProcess, b: WorkerProcess): [WorkerProcess, WorkerProcess] =>
    a.lines.some((line) => line.includes(' claimed job ')) ? [a, b] : [b, a];

  it('kill -9 of a worker mid-step: the step completes on another worker after the lease', async () => {
    cluster = new TestCluster();
    const [runtime, a, b] = await twoWorkers();
    const run = await runtime.run({ name: 'kill', steps: { work: slowStep(2) } });
    await waitFor(() => cluster.read('starts.log').length === 1, 60_000, 'the step to start');
    const [first, other] = holder(a, b);
    first.child.kill('SIGKILL');
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    const otherTag = other === a ? 'A' : 'B';
    expect(result.steps.work?.outputs).toMatchObject({ by: otherTag });
    expect(result.steps.work?.attempt).toBeGreaterThanOrEqual(2);
    // The first attempt failed as a lost lease, and was retried.
    const store = runtime.resolve(Tokens.Store);
    const retries: string[] = [];
    for await (const event of store.readEvents(run.id, { types: ['retrying'] })) {
      if (event.type === 'retrying') retries.push(event.error.code);
    }
    expect(retries[0]).toBe('POSTGRES_LEASE_LOST');
    const states = (await jobRows(cluster.schema)).map((row) => row.state);
    expect(states[0]).toBe('lost');
    expect(states.at(-1)).toBe('exited');
  });

  it('a worker that lost its lease (stopped past it) has its late result refused, and stops its process', async () => {
    cluster = new TestCluster();
    const [runtime, a, b] = await twoWorkers();
    const run = await runtime.run({ name: 'late', steps: { work: slowStep(4) } });
    await waitFor(() => cluster.read('starts.log').length === 1, 60_000, 'the step to start');
    const [first, other] = holder(a, b);
    const firstPid = Number(cluster.read('starts.log')[0]!.split(' ')[1]);
    first.child.kill('SIGSTOP');
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    expect(result.steps.work?.outputs).toMatchObject({ by: other === a ? 'A' : 'B' });
    first.child.kill('SIGCONT');
    // Back, the first worker learns in its next heartbeat that the lease is gone: it stops the process and
    // nothing it reports is taken.
    await waitFor(
      () => first.lines.some((line) => line.includes('result is refused')),
      60_000,
      'the refusal',
    );
    await waitFor(() => !alive(firstPid), 30_000, 'the stale process to be stopped');
    const states = (await jobRows(cluster.schema)).map((row) => row.state);
    expect(states[0]).toBe('lost');
    expect(states.at(-1)).toBe('exited');
    expect((await runtime.resolve(Tokens.Store).runState(run.id))?.steps.work?.outputs).toMatchObject({
      by: other === a ? 'A' : 'B',
    });
  });

  it('cancel reaches a step running on another host through the heartbeat reply', async () => {
    cluster = new TestCluster();
    const runtime = await cluster.coordinator('10s');
    const worker = await cluster.worker({}, { WORKER_TAG: 'A' });
    const run = await runtime.run({ name: 'cancel', steps: { work: slowStep(60) } });
    await waitFor(() => cluster.read('starts.log').length === 1, 60_000, 'the step to start');
    const pid = Number(cluster.read('starts.log')[0]!.split(' ')[1]);
    const asked = Date.now();
    run.cancel('enough');
    const result = await run.done;
    expect(result.status).toBe('cancelled');
    expect(Date.now() - asked).toBeLessThan(20_000);
    expect(worker.lines.some((line) => line.includes('cancel requested'))).toBe(true);
    expect(alive(pid)).toBe(false);
    expect(cluster.read('ends.log')).toEqual([]);
  });

  it('PostgreSQL restarted mid-run: workers and the coordinator reconnect, the run finishes, each step once', async () => {
    cluster = new TestCluster();
    const runtime = await cluster.coordinator('15s');
    await cluster.worker({ concurrency: 2 }, { WORKER_TAG: 'A' });
    await cluster.worker({ concurrency: 2 }, { WORKER_TAG: 'B' });
    const steps = Object.fromEntries(['s1', 's2', 's3'].map((id) => [id, slowStep(3)]));
    const run = await runtime.run({ name: 'restart', steps });
    await waitFor(() => cluster.read('starts.log').length >= 2, 60_000, 'steps to start');
    // The test database's cluster (scripts/setup-test-env.sh), restarted the way an administrator would.
    execFileSync('pg_ctlcluster', ['15', 'main', 'restart', '-m', 'fast'], { stdio: 'ignore' });
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    expect(cluster.read('starts.log')).toHaveLength(3);
    expect(cluster.read('ends.log')).toHaveLength(3);
  });

  it('a step with runs-on goes only to a worker with those labels', async () => {
    cluster = new TestCluster();
    const runtime = await cluster.coordinator('10s');
    await cluster.worker({ labels: 'gpu=a100,docker' }, { WORKER_TAG: 'A' });
    await cluster.worker({ labels: 'gpu=t4' }, { WORKER_TAG: 'B' });
    const steps = {
      a100: slowStep(0.2, { 'runs-on': ['gpu=a100'] }),
      docker: slowStep(0.2, { 'runs-on': 'docker' }),
      t4: slowStep(0.2, { 'runs-on': 'gpu=t4' }),
    };
    const result = await (await runtime.run({ name: 'labels', steps })).done;
    expect(result.status).toBe('succeeded');
    expect(result.steps.a100?.outputs).toMatchObject({ by: 'A' });
    expect(result.steps.docker?.outputs).toMatchObject({ by: 'A' });
    expect(result.steps.t4?.outputs).toMatchObject({ by: 'B' });
  });

  it('a worker that cannot reach the shared folder fails the attempt clearly; another worker runs it', async () => {
    cluster = new TestCluster();
    const runtime = await cluster.coordinator('10s');
    // Worker A has an empty file system over the run folder's parent (a mount namespace of its own): the run
    // folder is not there, as on a host where the share is not mounted.
    const hidden = [
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount -t tmpfs none "$0" && exec "$@"',
      cluster.root,
    ];
    await cluster.worker({}, { WORKER_TAG: 'A' }, hidden);
    const run = await runtime.run({ name: 'shared', steps: { work: slowStep(0.2) } });
    await waitFor(
      async () => (await jobRows(cluster.schema)).some((row) => row.state === 'failed'),
      60_000,
      'A to fail',
    );
    await cluster.worker({}, { WORKER_TAG: 'B' });
    const result = await run.done;
    expect(result.status).toBe('succeeded');
    expect(result.steps.work?.outputs).toMatchObject({ by: 'B' });
    const errors: string[] = [];
    for await (const event of runtime.resolve(Tokens.Store).readEvents(run.id, { types: ['retrying'] })) {
      if (event.type === 'retrying') errors.push(`${event.error.code}: ${event.error.message}`);
    }
    expect(errors[0]).toMatch(/^POSTGRES_WORKER_FAILED: worker .*: the run's folder .* is not reachable on /);
  });
});
