import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InferenceHttpClient } from '../client/http-client.js';
import { InferenceServer } from '../server/inference-server.js';
import { raw } from '../../test/support/http.js';
import { addSubModel, mlpModel, writeModel } from '../../test/support/onnx-models.js';

let server: InferenceServer;
let base: string;
let client: InferenceHttpClient;

beforeAll(async () => {
  const repository = await mkdtemp(join(tmpdir(), 'beamline-inference-batching-'));
  await writeModel(repository, 'mlp', mlpModel(), {
    pbtxt: 'max_batch_size: 64\ndynamic_batching { max_queue_delay_microseconds: 500000 }\n',
  });
  await writeModel(repository, 'mlp_plain', mlpModel(), { pbtxt: 'max_batch_size: 64\n' });
  // Requests wait up to 3 s for company: long enough to fill the queue, time out or hang up.
  await writeModel(repository, 'slow', addSubModel(), {
    pbtxt:
      'max_batch_size: 64\ndynamic_batching { max_queue_delay_microseconds: 3000000 default_queue_policy { max_queue_size: 3 } }\n',
  });
  await writeModel(repository, 'lone', addSubModel(), {
    pbtxt: 'max_batch_size: 64\ndynamic_batching { max_queue_delay_microseconds: 2000000 }\n',
  });
  server = new InferenceServer({ repository, httpPort: 0, grpcPort: false, metricsPort: false, cpus: 2 });
  base = (await server.start()).http!;
  client = new InferenceHttpClient(base);
}, 120_000);

afterAll(async () => {
  client?.close();
  await server?.close();
});

const mlpInput = (seed: number) => [
  {
    name: 'INPUT',
    datatype: 'FP32' as const,
    shape: [1, 256],
    data: new Float32Array(256).map((_, i) => Math.sin(seed + i)),
  },
];
const simpleBody = JSON.stringify({
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: new Array(16).fill(1) },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: new Array(16).fill(2) },
  ],
});

describe('dynamic batching', () => {
  test('concurrent requests share executions, and each gets exactly its own result', async () => {
    const expected = await Promise.all(
      Array.from({ length: 32 }, (_, i) => client.infer('mlp_plain', mlpInput(i))),
    );
    const before = (await client.statistics('mlp'))[0]!;
    const results = await Promise.all(Array.from({ length: 32 }, (_, i) => client.infer('mlp', mlpInput(i))));
    const after = (await client.statistics('mlp'))[0]!;
    results.forEach((result, i) => expect(result.outputs[0]!.data).toEqual(expected[i]!.outputs[0]!.data));
    expect(after.inference_count - before.inference_count).toBe(32);
    expect(after.execution_count - before.execution_count).toBeLessThan(32);
    expect(after.batch_stats.some((s) => s.batch_size > 1)).toBe(true);
  });

  test('a lone client waits for max_queue_delay only once: then its requests run at once', async () => {
    const send = async () =>
      expect((await raw(base, 'POST', '/v2/models/lone/infer', simpleBody)).status).toBe(200);
    const queueNs = async () => (await client.statistics('lone'))[0]!.inference_stats.queue.ns;
    await send(); // no batch seen yet: waits the full 2 s for company, as Triton does
    const first = await queueNs();
    expect(first).toBeGreaterThanOrEqual(1.9e9);
    for (let i = 0; i < 5; i += 1) await send(); // batches of one seen: nothing to wait for
    // Five requests that had each waited the delay would add 10 s of queue time.
    expect((await queueNs()) - first).toBeLessThan(1e9);
  });

  test('requests with a batch of several rows are joined and split by rows', async () => {
    const two = new Float32Array(512).map((_, i) => Math.cos(i));
    const [a, b] = await Promise.all([
      client.infer('mlp', [{ name: 'INPUT', datatype: 'FP32', shape: [2, 256], data: two }]),
      client.infer('mlp', mlpInput(7)),
    ]);
    expect(a.outputs[0]!.shape).toEqual([2, 16]);
    expect(b.outputs[0]!.shape).toEqual([1, 16]);
    const alone = await client.infer('mlp_plain', [
      { name: 'INPUT', datatype: 'FP32', shape: [2, 256], data: two },
    ]);
    expect(a.outputs[0]!.data).toEqual(alone.outputs[0]!.data);
  });
});

describe('queue bounds, timeouts and clients that go away', () => {
  test('a full queue answers 503 "Exceeds maximum queue size" with Retry-After, counted as rejected', async () => {
    const before = (await client.statistics('slow'))[0]!;
    const replies = await Promise.all(
      Array.from({ length: 6 }, () => raw(base, 'POST', '/v2/models/slow/infer', simpleBody)),
    );
    const statuses = replies.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 503, 503, 503]);
    const rejected = replies.find((r) => r.status === 503)!;
    expect((rejected.json as { error: string }).error).toMatch(/Exceeds maximum queue size/);
    expect(rejected.headers['retry-after']).toBe('1');
    const after = (await client.statistics('slow'))[0]!;
    expect(after.inference_stats.fail.count - before.inference_stats.fail.count).toBe(3);
    expect(after.inference_count - before.inference_count).toBe(3);
    expect(after.execution_count - before.execution_count).toBe(1);
  });

  test('I10: a timeout expiring in the queue is a 503, and the request never executes', async () => {
    const before = (await client.statistics('slow'))[0]!;
    const started = Date.now();
    const body = JSON.stringify({ ...JSON.parse(simpleBody), parameters: { timeout: 50_000 } });
    const reply = await raw(base, 'POST', '/v2/models/slow/infer', body);
    expect(reply.status).toBe(503);
    expect((reply.json as { error: string }).error).toMatch(/timeout expired/i);
    expect(Date.now() - started).toBeLessThan(2500);
    const after = (await client.statistics('slow'))[0]!;
    expect(after.execution_count).toBe(before.execution_count);
    expect(after.inference_stats.fail.count - before.inference_stats.fail.count).toBe(1);
  });

  test('a client that hangs up while queued takes its request out of the queue', async () => {
    const before = (await client.statistics('slow'))[0]!;
    const version = server.manager.resolve('slow');
    const url = new URL(base);
    const socket = connect(Number(url.port), url.hostname);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(
      `POST /v2/models/slow/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(simpleBody)}\r\n\r\n${simpleBody}`,
    );
    await expect.poll(() => version.pendingCount).toBe(1);
    socket.destroy();
    await expect.poll(() => version.pendingCount, { timeout: 2000 }).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 3200));
    const after = (await client.statistics('slow'))[0]!;
    expect(after.execution_count).toBe(before.execution_count);
    expect(after.inference_stats.fail.count - before.inference_stats.fail.count).toBe(1);
    // The server goes on answering.
    expect((await raw(base, 'POST', '/v2/models/slow/infer', simpleBody)).status).toBe(200);
  });
});
