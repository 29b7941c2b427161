import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireService } from '@beamline/core/testing';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AliceClient } from '../../src/client/alice-client.js';
import { ResultType, TaskStatus } from '../../src/client/wire.js';
import { Coordinator, type CoordinatorOptions, type TaskView } from '../../src/coordinator/coordinator.js';
import { isAliceError } from '../../src/errors/alice-error.js';

const CHEAP = { memoryKiB: 1024, parallelism: 1, iterations: 1 };
const AOD = { Name: 'AO2D.root', Path: '/alice/sim/x/AO2D.root', Size: 10 };

/** The test database of `scripts/setup-test-env.sh` (PostgreSQL 15 on loopback). */
const POSTGRES_URL =
  process.env.BEAMLINE_TEST_POSTGRES_URL ?? 'postgres://beamline:beamline@127.0.0.1:5432/beamline_test';
const postgresUp = await new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 })
  .connect()
  .then(
    async (c) => (await c.end(), true),
    () => false,
  );
const BACKENDS: ('sqlite' | 'postgres')[] = [
  'sqlite',
  ...(requireService('postgres', postgresUp, 'run scripts/setup-test-env.sh as root (PostgreSQL 15)')
    ? ['postgres' as const]
    : []),
];

let dir: string;
let coordinator: Coordinator;
let backend: 'sqlite' | 'postgres' = 'sqlite';
let schema: string | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'alice-coordinator-'));
});
afterEach(async () => {
  await coordinator?.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
  if (schema !== undefined) {
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
    await client.end();
    schema = undefined;
  }
});

async function startCoordinator(options: Partial<CoordinatorOptions> = {}): Promise<string> {
  if (backend === 'postgres') schema = `alicetraint_test_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  coordinator = await Coordinator.open({
    dir: join(dir, 'coordinator'),
    argon2: CHEAP,
    ...(schema !== undefined && { postgresUrl: POSTGRES_URL, postgresSchema: schema }),
    ...options,
  });
  return coordinator.start();
}

async function machine(name = 'gpu'): Promise<AliceClient> {
  const m = await coordinator.registerMachine(name);
  return new AliceClient({ baseUrl: coordinator.url, machineId: String(m.id), secretKey: m.secret });
}

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isAliceError(error)).toBe(true);
  return error as { code: string; message: string };
}

async function tasks(): Promise<TaskView[]> {
  return (await fetch(`${coordinator.url}/api/tasks`)).json() as Promise<TaskView[]>;
}

describe('the coordinator', () => {
  it('registers machines with the secret shown once and only an Argon2id hash (64 MiB, 2 lanes) kept', async () => {
    coordinator = await Coordinator.open({ dir: join(dir, 'coordinator') });
    const url = await coordinator.start();
    const res = await fetch(`${url}/api/machines`, {
      method: 'POST',
      body: JSON.stringify({ Name: 'gpu-01' }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { ID: number; Secret: string };
    expect(body.Secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const stored = (await coordinator.store.machine(body.ID))!;
    expect(stored.secretHash).toMatch(/^\$argon2id\$v=19\$m=65536,t=1,p=2\$/);
    const db = readFileSync(join(dir, 'coordinator', 'coordinator.db'));
    expect(db.includes(Buffer.from(body.Secret))).toBe(false);
    const client = new AliceClient({ baseUrl: url, machineId: String(body.ID), secretKey: body.Secret });
    expect(await client.pollTask()).toBeUndefined();
    const wrong = new AliceClient({ baseUrl: url, machineId: String(body.ID), secretKey: `${body.Secret}x` });
    expect((await failure(wrong.pollTask())).code).toBe('ALICE_UNAUTHORIZED');
  });
});

describe.each(BACKENDS)('the coordinator on %s', (name) => {
  beforeEach(() => {
    backend = name;
  });

  it('hands a task to one machine only; 404 when nothing is queued, 401 for a bad id or secret; HEAD claims nothing', async () => {
    await startCoordinator();
    const a = await machine('a');
    const b = await machine('b');
    await coordinator.addTask({ aodFiles: [AOD], configuration: { epochs: 2 } });
    expect(
      (
        await fetch(`${coordinator.url}/training-machines/1/training-task`, {
          method: 'HEAD',
          headers: { 'Secret-Id': 'x' },
        })
      ).status,
    ).toBe(401);
    const task = await a.pollTask();
    expect(task).toEqual({ ID: 1, AODFiles: [AOD], Configuration: { epochs: 2 } });
    expect(await b.pollTask()).toBeUndefined();
    const bad = await fetch(`${coordinator.url}/training-machines/abc/training-task`, {
      headers: { 'Secret-Id': 'x' },
    });
    expect(bad.status).toBe(401);
    expect((await tasks())[0]).toMatchObject({
      Status: 2,
      StatusName: 'Training',
      TrainingMachineID: 1,
      Claims: 1,
    });
  });

  it('enforces the status transition table with a reason (422); the same status again is accepted', async () => {
    await startCoordinator();
    const a = await machine('a');
    const b = await machine('b');
    await coordinator.addTask({ aodFiles: [AOD] });
    const { ID } = (await a.pollTask())!;
    const post = (status: number) =>
      fetch(`${coordinator.url}/training-tasks/${ID}/status`, {
        method: 'POST',
        headers: { 'Secret-Id': (a as unknown as { options: { secretKey: string } }).options.secretKey },
        body: JSON.stringify({ Status: status }),
      }).then(async (r) => [r.status, (await r.text()).trim()] as const);
    expect(await post(5)).toEqual([
      422,
      expect.stringContaining('a training machine cannot set Uploaded (5)'),
    ]);
    expect(await post(1)).toEqual([422, expect.stringContaining('cannot set Queued')]);
    expect(await post(4)).toEqual([
      422,
      expect.stringContaining(
        'the task is Training (2); it can become Benchmarking (3) or Failed (0), not Completed (4)',
      ),
    ]);
    await a.postStatus(ID, TaskStatus.Benchmarking);
    await a.postStatus(ID, TaskStatus.Benchmarking);
    await a.postStatus(ID, TaskStatus.Completed);
    expect(await post(3)).toEqual([422, expect.stringContaining('already Completed (4)')]);
    expect(await post(0)).toEqual([422, expect.stringContaining('already Completed')]);
    const raw = (body: string) =>
      fetch(`${coordinator.url}/training-tasks/${ID}/status`, {
        method: 'POST',
        headers: { 'Secret-Id': (a as unknown as { options: { secretKey: string } }).options.secretKey },
        body,
      }).then((r) => r.status);
    expect(await raw('{}')).toBe(422);
    expect(await raw('{"Status":"3"}')).toBe(422);
    expect(await raw('{"Status":3.5}')).toBe(422);
    expect((await failure(b.postStatus(ID, TaskStatus.Failed))).code).toBe('ALICE_UNAUTHORIZED');
    expect((await tasks())[0]!.Status).toBe(4);
  });

  it('stores results with their type and size limit; lists and serves them', async () => {
    await startCoordinator({ maxResultBytes: 1000 });
    const a = await machine();
    await coordinator.addTask({ aodFiles: [AOD] });
    const { ID } = (await a.pollTask())!;
    const file = join(dir, 'kaon.onnx');
    writeFileSync(file, Buffer.from('onnx-bytes'));
    const record = await a.uploadResult(ID, {
      path: file,
      type: ResultType.Onnx,
      name: 'kaon.onnx',
      description: 'model',
    });
    expect(record).toMatchObject({ Name: 'kaon.onnx', Type: 2, Size: 10, TrainingTaskID: ID });
    const big = join(dir, 'big.log');
    writeFileSync(big, Buffer.alloc(2000));
    const tooBig = await failure(
      a.uploadResult(ID, { path: big, type: ResultType.Log, name: 'big.log', description: '' }),
    );
    expect(tooBig.message).toContain('413');
    const form = new FormData();
    form.set('file-type', '7');
    form.set('file', new Blob(['x']), 'x.log');
    const secret = (a as unknown as { options: { secretKey: string } }).options.secretKey;
    const badType = await fetch(`${coordinator.url}/training-tasks/${ID}/training-task-results`, {
      method: 'POST',
      headers: { 'Secret-Id': secret },
      body: form,
    });
    expect([badType.status, (await badType.text()).trim()]).toEqual([
      422,
      'file-type must be 0 (log), 1 (image) or 2 (onnx), got 7',
    ]);
    const [listed] = await tasks();
    expect(listed!.Results).toEqual([expect.objectContaining({ Name: 'kaon.onnx', Type: 2, Size: 10 })]);
    const served = await fetch(`${coordinator.url}/api/tasks/${ID}/results/${listed!.Results[0]!.ID}/file`);
    expect(Buffer.from(await served.arrayBuffer()).toString()).toBe('onnx-bytes');
    await a.postStatus(ID, TaskStatus.Failed);
    const late = await failure(
      a.uploadResult(ID, { path: file, type: ResultType.Onnx, name: 'k.onnx', description: '' }),
    );
    expect(late.message).toContain('results are taken while it runs');
  });

  it('requeues a task whose machine went silent past the lease, fails it after its last claim; the old machine is refused', async () => {
    await startCoordinator({ leaseMs: 300, sweepMs: 100, maxClaims: 2 });
    const a = await machine('a');
    const b = await machine('b');
    await coordinator.addTask({ aodFiles: [AOD] });
    const first = (await a.pollTask())!;
    // The sweeper's moment depends on the machine's load: wait for the state, up to 10 s.
    const settled = async (status: number) => {
      for (let waited = 0; waited < 10_000; waited += 50) {
        const task = (await tasks())[0]!;
        if (task.Status === status) return task;
        await new Promise((r) => setTimeout(r, 50));
      }
      return (await tasks())[0]!;
    };
    const requeued = await settled(1);
    expect(requeued).toMatchObject({ Status: 1, TrainingMachineID: null });
    expect(requeued.Reason).toContain('requeued');
    const second = (await b.pollTask())!;
    expect(second.ID).toBe(first.ID);
    expect((await failure(a.postStatus(first.ID, TaskStatus.Benchmarking))).code).toBe('ALICE_UNAUTHORIZED');
    const failed = await settled(0);
    expect(failed).toMatchObject({ Status: 0, Claims: 2 });
    expect(failed.Reason).toContain('2 claims in all; failed');
    expect(await a.pollTask()).toBeUndefined();
  });

  it('heartbeats renew the lease and carry a cancel', async () => {
    await startCoordinator({ leaseMs: 400, sweepMs: 50 });
    const a = await machine();
    await coordinator.addTask({ aodFiles: [AOD] });
    const { ID } = (await a.pollTask())!;
    for (let i = 0; i < 8; i++) {
      expect(await a.heartbeat(ID)).toEqual({ supported: true, cancel: false });
      await new Promise((r) => setTimeout(r, 150));
    }
    expect((await tasks())[0]!.Status).toBe(2);
    const cancel = await fetch(`${coordinator.url}/api/tasks/${ID}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(200);
    expect(await a.heartbeat(ID)).toEqual({ supported: true, cancel: true });
    expect((await tasks())[0]).toMatchObject({ Status: 0, Reason: 'cancelled' });
  });

  it('never hands a task out twice to 8 machines polling at once', async () => {
    await startCoordinator();
    const machines = await Promise.all(Array.from({ length: 8 }, (_, i) => machine(`m${i}`)));
    for (let i = 0; i < 40; i++) await coordinator.addTask({ aodFiles: [AOD], name: `t${i}` });
    const got = await Promise.all(
      machines.map(async (m) => {
        const ids: number[] = [];
        for (;;) {
          const t = await m.pollTask();
          if (!t) return ids;
          ids.push(t.ID);
        }
      }),
    );
    const all = got.flat().sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect((await tasks()).every((t) => t.Claims === 1 && t.Status === 2)).toBe(true);
  });

  it('the people API needs the bearer token when one is set, and checks new tasks', async () => {
    await startCoordinator({ adminToken: 'admin-token' });
    expect((await fetch(`${coordinator.url}/api/tasks`)).status).toBe(401);
    const auth = { Authorization: 'Bearer admin-token' };
    const bad = await fetch(`${coordinator.url}/api/tasks`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ AODFiles: [{ Name: 'x' }] }),
    });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { error: string }).error).toContain('AODFiles.0.Path');
    const ok = await fetch(`${coordinator.url}/api/tasks`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ AODFiles: [AOD], Configuration: { a: 1 } }),
    });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ ID: 1, Status: 1, StatusName: 'Queued' });
  });

  it.skipIf(name !== 'postgres')(
    'two coordinators on one PostgreSQL database never hand a task out twice',
    async () => {
      await startCoordinator();
      const other = await Coordinator.open({
        dir: join(dir, 'other'),
        argon2: CHEAP,
        postgresUrl: POSTGRES_URL,
        ...(schema !== undefined && { postgresSchema: schema }),
      });
      await other.start();
      try {
        for (let i = 0; i < 60; i++) await coordinator.addTask({ aodFiles: [AOD], name: `t${i}` });
        const clients = await Promise.all(
          Array.from({ length: 8 }, async (_, i) => {
            const m = await coordinator.registerMachine(`m${i}`);
            const url = i % 2 === 0 ? coordinator.url : other.url;
            return new AliceClient({ baseUrl: url, machineId: String(m.id), secretKey: m.secret });
          }),
        );
        const got = await Promise.all(
          clients.map(async (c) => {
            const ids: number[] = [];
            for (;;) {
              const t = await c.pollTask();
              if (!t) return ids;
              ids.push(t.ID);
            }
          }),
        );
        expect(got.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      } finally {
        await other.stop();
      }
    },
  );
});
