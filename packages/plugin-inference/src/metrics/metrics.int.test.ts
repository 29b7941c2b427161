import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { InferenceHttpClient } from '../client/http-client.js';
import { InferenceServer } from '../server/inference-server.js';
import { raw } from '../../test/support/http.js';
import { addSubModel, writeModel } from '../../test/support/onnx-models.js';

let server: InferenceServer;
let client: InferenceHttpClient;
let metricsUrl: string;

beforeAll(async () => {
  const repository = await mkdtemp(join(tmpdir(), 'beamline-inference-metrics-'));
  // Requests wait up to 2 s for company and at most 2 may wait: a burst fills the queue, the rest are
  // rejected, and the queued ones run as one execution, however slow the machine.
  await writeModel(repository, 'simple', addSubModel(), {
    pbtxt:
      'max_batch_size: 8\ndynamic_batching { max_queue_delay_microseconds: 2000000 default_queue_policy { max_queue_size: 2 } }\nparameters { key: "execution_providers" value: { string_value: "cuda,cpu" } }\n',
  });
  server = new InferenceServer({ repository, httpPort: 0, grpcPort: false, metricsPort: 0, cpus: 2 });
  const address = await server.start();
  metricsUrl = address.metrics!;
  client = new InferenceHttpClient(address.http!);
}, 120_000);

afterAll(async () => {
  client?.close();
  await server?.close();
});

async function scrape(): Promise<string> {
  const url = new URL(metricsUrl);
  const reply = await raw(url.origin, 'GET', url.pathname);
  expect(reply.status).toBe(200);
  expect(reply.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return reply.body.toString();
}

function value(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  if (!line) throw new Error(`no ${name}{${labels}} in the metrics`);
  return Number(line.split(' ').at(-1));
}

const inputs = () => [
  { name: 'INPUT0', datatype: 'INT32' as const, shape: [1, 16], data: new Int32Array(16).fill(1) },
  { name: 'INPUT1', datatype: 'INT32' as const, shape: [1, 16], data: new Int32Array(16).fill(2) },
];

test('P1/P3: Triton names and labels; counter deltas agree with /stats deltas', async () => {
  const labels = 'model="simple",version="1"';
  const before = await scrape();
  const statsBefore = (await client.statistics('simple'))[0]!;
  const outcomes = await Promise.all(
    Array.from({ length: 5 }, () =>
      client.infer('simple', inputs()).then(
        () => 'ok',
        () => 'rejected',
      ),
    ),
  );
  const rejected = outcomes.filter((o) => o === 'rejected').length;
  expect(rejected).toBeGreaterThan(0);
  const after = await scrape();
  const statsAfter = (await client.statistics('simple'))[0]!;
  const delta = (name: string, extra = '') =>
    value(after, name, labels + extra) - value(before, name, labels + extra);
  expect(delta('nv_inference_request_success')).toBe(
    statsAfter.inference_stats.success.count - statsBefore.inference_stats.success.count,
  );
  expect(delta('nv_inference_count')).toBe(statsAfter.inference_count - statsBefore.inference_count);
  expect(delta('nv_inference_exec_count')).toBe(statsAfter.execution_count - statsBefore.execution_count);
  expect(delta('nv_inference_exec_count')).toBeLessThan(delta('nv_inference_count'));
  expect(delta('nv_inference_request_failure', ',reason="REJECTED"')).toBe(
    statsAfter.inference_stats.fail.count - statsBefore.inference_stats.fail.count,
  );
  expect(delta('nv_inference_request_failure', ',reason="REJECTED"')).toBe(rejected);
  expect(delta('nv_inference_queue_duration_us')).toBe(
    Math.floor(statsAfter.inference_stats.queue.ns / 1000) -
      Math.floor(statsBefore.inference_stats.queue.ns / 1000),
  );
  for (const name of [
    'nv_inference_request_duration_us',
    'nv_inference_compute_input_duration_us',
    'nv_inference_compute_infer_duration_us',
    'nv_inference_compute_output_duration_us',
  ]) {
    expect(after).toContain(`# TYPE ${name} counter`);
    expect(value(after, name, labels)).toBeGreaterThan(0);
  }
  expect(after).toContain('# TYPE nv_inference_pending_request_count gauge');
  expect(value(after, 'nv_inference_pending_request_count', labels)).toBe(0);
  // The active provider (CUDA was asked for and fell back on this machine).
  expect(value(after, 'beamline_inference_execution_provider', `${labels},provider="cpu"`)).toBe(1);
  expect(after).toContain('process_resident_memory_bytes');
});

test('other paths are 404, other verbs 405', async () => {
  const url = new URL(metricsUrl);
  expect((await raw(url.origin, 'GET', '/')).status).toBe(404);
  expect((await raw(url.origin, 'POST', '/metrics')).status).toBe(405);
});
