import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { InferenceHttpClient } from '../client/http-client.js';
import { InferenceServer, type InferenceServerOptions } from '../server/inference-server.js';
import { raw } from '../../test/support/http.js';
import { addSubModel, writeModel } from '../../test/support/onnx-models.js';

const servers: InferenceServer[] = [];
const clients: InferenceHttpClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function serve(
  options: Partial<InferenceServerOptions> = {},
): Promise<{ base: string; client: InferenceHttpClient; repository: string; server: InferenceServer }> {
  const repository = await mkdtemp(join(tmpdir(), 'beamline-inference-http-'));
  await writeModel(repository, 'simple', addSubModel(), { pbtxt: 'max_batch_size: 8\n' });
  await writeModel(repository, 'second', addSubModel(), {});
  const server = new InferenceServer({
    repository,
    controlMode: 'explicit',
    httpPort: 0,
    grpcPort: false,
    metricsPort: false,
    cpus: 2,
    ...options,
  });
  servers.push(server);
  const base = (await server.start()).http!;
  const client = new InferenceHttpClient(base);
  clients.push(client);
  return { base, client, repository, server };
}

const simpleInputs = (value = 1) => [
  { name: 'INPUT0', datatype: 'INT32' as const, shape: [1, 16], data: new Int32Array(16).fill(value) },
  { name: 'INPUT1', datatype: 'INT32' as const, shape: [1, 16], data: new Int32Array(16).fill(1) },
];

describe('model repository extension (MRP1–MRP5)', () => {
  test('MRP1: the index lists every model on disk with state and reason; ready filters', async () => {
    const { client, base } = await serve({ loadModels: ['simple'] });
    expect(await client.repositoryIndex()).toEqual([
      { name: 'second', state: 'UNAVAILABLE', reason: '' },
      { name: 'simple', version: '1', state: 'READY', reason: '' },
    ]);
    expect(await client.repositoryIndex(true)).toEqual([
      { name: 'simple', version: '1', state: 'READY', reason: '' },
    ]);
    const bad = await raw(base, 'POST', '/v2/repository/index', '{"ready": "yes"}');
    expect(bad.status).toBe(400);
  });

  test('MRP2/MRP3: load then ready; unload then not ready and infer 4xx', async () => {
    const { client, base } = await serve();
    expect(await client.modelReady('second')).toBe(false);
    await client.load('second');
    expect(await client.modelReady('second')).toBe(true);
    expect(
      (
        await client.infer('second', [
          { name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: new Int32Array(16).fill(2) },
          { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], data: new Int32Array(16).fill(1) },
        ])
      ).outputs,
    ).toHaveLength(2);
    await client.unload('second');
    expect(await client.modelReady('second')).toBe(false);
    const infer = await raw(base, 'POST', '/v2/models/second/infer', '{"inputs": []}');
    expect(infer.status).toBeGreaterThanOrEqual(400);
    expect(infer.status).toBeLessThan(500);
    await expect(client.unload('never-there')).rejects.toThrow(/failed to unload 'never-there'/);
    await expect(client.load('../etc')).rejects.toThrow(/not a model name/);
  });

  test('MRP2: a broken model is answered 400 and the old version keeps serving; readiness stays', async () => {
    const { client, repository } = await serve({ loadModels: ['simple'] });
    await writeFile(
      join(repository, 'simple', 'config.pbtxt'),
      'max_batch_size: 8\ninput [ { name: "NOPE", data_type: TYPE_INT32, dims: [16] } ]\n',
    );
    const error = (await client.load('simple').catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/input "NOPE" is not in the model/);
    expect((error as { details?: { status?: number } }).details?.status).toBe(400);
    expect(await client.ready()).toBe(true);
    expect((await client.infer('simple', simpleInputs())).outputs).toHaveLength(2);
  });

  test('MRP5: parameters.config overrides the configuration on disk', async () => {
    const { client } = await serve({ loadModels: ['simple'] });
    expect((await client.modelConfig('simple')).max_batch_size).toBe(8);
    await client.load('simple', {
      max_batch_size: 2,
      dynamic_batching: { max_queue_delay_microseconds: 50 },
    });
    const config = await client.modelConfig('simple');
    expect(config.max_batch_size).toBe(2);
    expect(config.dynamic_batching?.max_queue_delay_microseconds).toBe(50);
    await expect(client.load('simple', { max_batch_size: 'many' })).rejects.toThrow(
      /parameters\.config: max_batch_size/,
    );
  });

  test('MRP4: control calls fail unless the control mode is explicit', async () => {
    const { client, base } = await serve({ controlMode: 'none' });
    await expect(client.load('simple')).rejects.toThrow(
      /not allowed: the server runs in model control mode "none"/,
    );
    const unload = await raw(base, 'POST', '/v2/repository/models/simple/unload', '');
    expect(unload.status).toBe(400);
    expect(await client.modelReady('simple')).toBe(true);
  });
});

describe('readiness and shutdown (R1, R2)', () => {
  test('R1: not ready while a wanted model failed to load; R2: not ready once shutdown starts, in-flight requests finish', async () => {
    const repository = await mkdtemp(join(tmpdir(), 'beamline-inference-http-'));
    // Requests wait up to 3 s in the batcher's queue: they are surely in flight when shutdown starts.
    await writeModel(repository, 'simple', addSubModel(), {
      pbtxt: 'max_batch_size: 64\ndynamic_batching { max_queue_delay_microseconds: 3000000 }\n',
    });
    await writeModel(repository, 'broken', Buffer.from('nope'), {});
    const server = new InferenceServer({
      repository,
      httpPort: 0,
      grpcPort: false,
      metricsPort: false,
      cpus: 2,
    });
    servers.push(server);
    const base = (await server.start()).http!;
    expect((await raw(base, 'GET', '/v2/health/ready')).status).toBe(400);
    expect((await raw(base, 'GET', '/v2/health/live')).status).toBe(200);
    expect((await raw(base, 'GET', '/v2/models/simple/ready')).status).toBe(200);
    const broken = await raw(base, 'GET', '/v2/models/broken/ready');
    expect(broken.status).toBe(400);
    expect((broken.json as { error: string }).error).toMatch(/not ready/);

    const client = new InferenceHttpClient(base);
    clients.push(client);
    const inFlight = Array.from({ length: 10 }, () => client.infer('simple', simpleInputs()));
    await expect.poll(() => server.manager.resolve('simple').pendingCount, { timeout: 10_000 }).toBe(10);
    const closing = server.close();
    expect(server.ready).toBe(false);
    const results = await Promise.allSettled(inFlight);
    await closing;
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(10);
  });
});

describe('request size', () => {
  test('a body over maxInputSize is a 400 naming the limit, the connection closes, the server answers on', async () => {
    const { base, client } = await serve({ loadModels: ['simple'], maxInputSize: 4096 });
    const big = Buffer.alloc(64 * 1024, 0x20);
    const declared = await raw(base, 'POST', '/v2/models/simple/infer', big);
    expect(declared.status).toBe(400);
    expect((declared.json as { error: string }).error).toMatch(
      /exceeds the maximum input size of 4096 bytes/,
    );
    // Without a Content-Length (chunked), the limit is enforced while reading.
    const chunked = await raw(
      base,
      'POST',
      '/v2/models/simple/infer',
      [big.subarray(0, 3000), big.subarray(3000)],
      {
        'Transfer-Encoding': 'chunked',
      },
    );
    expect(chunked.status).toBe(400);
    expect((chunked.json as { error: string }).error).toMatch(/exceeds the maximum input size/);
    expect(chunked.headers.connection).toBe('close');
    expect((await client.infer('simple', simpleInputs())).outputs).toHaveLength(2);
  });
});
