import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AliceClient } from '../../src/client/alice-client.js';
import { ResultType, TaskStatus } from '../../src/client/wire.js';
import { isAliceError } from '../../src/errors/alice-error.js';
import { FakeGoServer } from '../support/go-server.js';

const SECRET = 'q7bZ0s3cr3tK3y-base64+/=';
const AOD = {
  Name: 'AO2D.root',
  Path: '/alice/sim/2024/LHC24f3/0/523397/AOD/001/AO2D.root',
  Size: 1234,
  LHCPeriod: 'LHC24f3',
  RunNumber: 523397,
  AODNumber: 1,
};

let server: FakeGoServer;
let client: AliceClient;
let dir: string;
beforeEach(async () => {
  server = new FakeGoServer();
  server.addMachine(3, SECRET);
  const url = await server.start();
  client = new AliceClient({ baseUrl: `${url}/`, machineId: '3', secretKey: SECRET });
  dir = mkdtempSync(join(tmpdir(), 'alice-client-'));
});
afterEach(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

async function rejection(
  promise: Promise<unknown>,
): Promise<{ code: string; message: string; retryable: boolean }> {
  try {
    await promise;
  } catch (error) {
    expect(isAliceError(error)).toBe(true);
    return error as { code: string; message: string; retryable: boolean };
  }
  throw new Error('expected a rejection');
}

describe('AliceClient against a server that behaves as the Go web interface', () => {
  it('polls: GET with Secret-Id and Content-Type: application/json, no body; the text/plain task is read', async () => {
    server.addTask({ ID: 41, AODFiles: [AOD], Configuration: { epochs: 3 } });
    const task = await client.pollTask();
    expect(task).toEqual({ ID: 41, AODFiles: [AOD], Configuration: { epochs: 3 } });
    const req = server.requests[0]!;
    expect(req.method).toBe('GET');
    expect(req.url).toBe('/training-machines/3/training-task');
    expect(req.headers['secret-id']).toBe(SECRET);
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.body.length).toBe(0);
    expect(server.task(41)).toMatchObject({ Status: TaskStatus.Training, TrainingMachineID: 3 });
  });

  it('reads 404 as nothing queued, and AODFiles: null as no files', async () => {
    expect(await client.pollTask()).toBeUndefined();
    server.addTask({ ID: 1, AODFiles: null });
    expect((await client.pollTask())?.AODFiles).toEqual([]);
  });

  it('a wrong secret is ALICE_UNAUTHORIZED, not retryable, with the server text', async () => {
    const bad = new AliceClient({ baseUrl: server.url, machineId: '3', secretKey: 'wrong' });
    const error = await rejection(bad.pollTask());
    expect(error.code).toBe('ALICE_UNAUTHORIZED');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('401 (unauthorized)');
    expect(error.message).toContain('MACHINE_ID and MACHINE_SECRET_KEY');
  });

  it('an HTML page (a base URL that is not the web interface) is refused, not taken for a task', async () => {
    const wrong = new AliceClient({ baseUrl: `${server.url}/app`, machineId: '3', secretKey: SECRET });
    const error = await rejection(wrong.pollTask());
    expect(error.code).toBe('ALICE_BAD_RESPONSE');
    expect(error.message).toMatch(/answered an HTML page, not a task: is ALICETRAINT_BASE_URL/);
  });

  it('a task that is not {ID, AODFiles, Configuration} is ALICE_TASK_INVALID naming the field', async () => {
    server.addTask({ ID: 2, AODFiles: [{ Name: 'x' }] });
    const error = await rejection(client.pollTask());
    expect(error.code).toBe('ALICE_TASK_INVALID');
    expect(error.message).toContain('AODFiles.0.Path');
  });

  it('posts status as {"Status":n} with the headers; 401 when the task is not this machine\'s', async () => {
    server.addTask({ ID: 9 });
    await client.pollTask();
    await client.postStatus(9, TaskStatus.Benchmarking);
    await client.postStatus(9, TaskStatus.Completed);
    const posts = server.requests.filter((r) => r.url === '/training-tasks/9/status');
    expect(posts.map((r) => r.body.toString())).toEqual(['{"Status":3}', '{"Status":4}']);
    expect(posts[0]!.headers['content-type']).toBe('application/json');
    expect(posts[0]!.headers['secret-id']).toBe(SECRET);
    expect(server.task(9).posted).toEqual([3, 4]);

    server.addTask({ ID: 10 });
    const error = await rejection(client.postStatus(10, TaskStatus.Failed));
    expect(error.code).toBe('ALICE_UNAUTHORIZED');
    expect(error.message).toContain('401 (unauthorized)');
    const missing = await rejection(client.postStatus(999, TaskStatus.Failed));
    expect(missing.code).toBe('ALICE_UNAUTHORIZED');
    expect(missing.message).toContain('record not found');
  });

  it('uploads multipart with file-type, name, description and file; large files are not refused', async () => {
    server.addTask({ ID: 5 });
    await client.pollTask();
    const small = join(dir, 'kaon.onnx');
    writeFileSync(small, Buffer.from([8, 7, 0, 1, 2, 255]));
    const record = await client.uploadResult(5, {
      path: small,
      type: ResultType.Onnx,
      name: 'kaon.onnx',
      description: 'kaon model',
    });
    expect(record).toMatchObject({
      Name: 'kaon.onnx',
      Type: 2,
      Description: 'kaon model',
      TrainingTaskID: 5,
    });
    const req = server.requests.at(-1)!;
    expect(req.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(req.headers['secret-id']).toBe(SECRET);
    const body = req.body.toString('latin1');
    const names = [
      ...body.matchAll(/Content-Disposition: form-data; name="([^"]+)"(; filename="([^"]*)")?/g),
    ].map((m) => [m[1], m[3]]);
    expect(names).toEqual([
      ['file-type', undefined],
      ['name', undefined],
      ['description', undefined],
      ['file', 'kaon.onnx'],
    ]);
    expect(server.task(5).results[0]!.Data).toEqual(Buffer.from([8, 7, 0, 1, 2, 255]));

    const large = join(dir, 'big.log');
    writeFileSync(large, Buffer.alloc(25 * 1024 * 1024, 0x61));
    await client.uploadResult(5, { path: large, type: ResultType.Log, name: 'big.log', description: '' });
    expect(server.task(5).results[1]).toMatchObject({ Size: 25 * 1024 * 1024, Type: 0, Name: 'big.log' });
  });

  it('a file that cannot be read fails the upload without retrying', async () => {
    const error = await rejection(
      client.uploadResult(5, { path: join(dir, 'none'), type: ResultType.Log, name: 'x', description: '' }),
    );
    expect(error.code).toBe('ALICE_UPLOAD_FAILED');
    expect(error.retryable).toBe(false);
  });

  it('a server in trouble (5xx) and a server that is down are retryable', async () => {
    server.failWith = 502;
    const bad = await rejection(client.pollTask());
    expect(bad).toMatchObject({ code: 'ALICE_HTTP_STATUS', retryable: true });
    await server.close();
    const down = await rejection(client.pollTask());
    expect(down).toMatchObject({ code: 'ALICE_UNREACHABLE', retryable: true });
    expect(down.message).toContain('ECONNREFUSED');
  });

  it('heartbeat: the Go server has no such route (405), so it is reported unsupported', async () => {
    expect(await client.heartbeat(5)).toEqual({ supported: false });
  });

  it('an aborted request rejects with the abort reason', async () => {
    const ctl = new AbortController();
    ctl.abort(new Error('stop'));
    await expect(client.pollTask(ctl.signal)).rejects.toThrow('stop');
  });
});
