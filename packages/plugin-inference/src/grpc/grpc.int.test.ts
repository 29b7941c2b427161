import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InferenceGrpcClient } from '../client/grpc-client.js';
import { isInferenceError } from '../errors/inference-error.js';
import { InferenceServer } from '../server/inference-server.js';
import { SIMPLE_METADATA, testRepository } from '../../test/support/repository.js';
import { addSubModel, writeModel } from '../../test/support/onnx-models.js';
import { inferencePackage } from './grpc-frontend.js';

let server: InferenceServer;
let client: InferenceGrpcClient;
let raw: grpc.Client;
let target: string;

beforeAll(async () => {
  const repository = await testRepository();
  await writeModel(repository, 'slow', addSubModel(), {
    pbtxt: 'max_batch_size: 64\ndynamic_batching { max_queue_delay_microseconds: 3000000 }\n',
  });
  server = new InferenceServer({
    repository,
    controlMode: 'explicit',
    loadModels: ['*'],
    httpPort: false,
    grpcPort: 0,
    metricsPort: 0,
    cpus: 2,
  });
  target = (await server.start()).grpc!;
  client = new InferenceGrpcClient(target);
  const Service = (grpc.loadPackageDefinition(inferencePackage()).inference as grpc.GrpcObject)
    .GRPCInferenceService as grpc.ServiceClientConstructor;
  raw = new Service(target, grpc.credentials.createInsecure());
}, 120_000);

afterAll(async () => {
  client?.close();
  raw?.close();
  await server?.close();
});

/** Calls a method with a hand-built message, as another client would send it. */
function call(
  method: string,
  request: unknown,
  options: grpc.CallOptions = {},
): Promise<{ error: grpc.ServiceError | null; response: unknown }> {
  return new Promise((resolve) => {
    (
      raw as unknown as Record<
        string,
        (r: unknown, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: unknown) => void) => void
      >
    )[method]!.call(raw, request, options, (error, response) => resolve({ error, response }));
  });
}

const simpleInputs = (a: number, b = 1) => [
  { name: 'INPUT0', datatype: 'INT32' as const, shape: [1, 16], data: new Int32Array(16).fill(a) },
  { name: 'INPUT1', datatype: 'INT32' as const, shape: [1, 16], data: new Int32Array(16).fill(b) },
];

describe('GR1: every method', () => {
  test('health, metadata, configuration, statistics, repository', async () => {
    expect(await client.live()).toBe(true);
    expect(await client.ready()).toBe(true);
    expect(await client.modelReady('simple')).toBe(true);
    expect(await client.modelReady('simple', 1)).toBe(true);
    expect((await client.serverMetadata()).extensions).toContain('binary_tensor_data');
    expect(await client.modelMetadata('simple')).toEqual(SIMPLE_METADATA);
    const config = await client.modelConfig('simple');
    expect(config).toMatchObject({
      name: 'simple',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      max_batch_size: 8,
      input: [{ name: 'INPUT0', data_type: 'TYPE_INT32', dims: ['16'] }, { name: 'INPUT1' }],
      instance_group: [{ kind: 'KIND_AUTO', count: 1 }],
      dynamic_batching: { max_queue_delay_microseconds: '0' },
      version_policy: { all: {} },
    });
    await client.infer('simple', simpleInputs(1));
    const stats = await client.statistics('simple', 2);
    expect(stats[0]).toMatchObject({ name: 'simple', version: '2' });
    expect(Number((stats[0] as { inference_count: string }).inference_count)).toBeGreaterThan(0);
    expect((await client.statistics()).length).toBeGreaterThanOrEqual(7);
    expect(await client.repositoryIndex(true)).toContainEqual({
      name: 'mlp',
      version: '1',
      state: 'READY',
      reason: '',
    });
    await client.unload('identity');
    expect(await client.modelReady('identity')).toBe(false);
    await client.load('identity', { max_batch_size: 2 });
    expect((await client.modelConfig('identity')).max_batch_size).toBe(2);
  });

  test('errors are gRPC status codes with the message', async () => {
    const unknown = await call('ModelMetadata', { name: 'nope' });
    expect(unknown.error?.code).toBe(grpc.status.NOT_FOUND);
    expect(unknown.error?.details).toMatch(/unknown model: 'nope'/);
    const bad = await call('ModelInfer', {
      model_name: 'simple',
      inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: [1, 16] }],
    });
    expect(bad.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    const unimplemented = await new Promise<grpc.ServiceError | null>((resolve) =>
      raw.makeUnaryRequest(
        '/inference.GRPCInferenceService/ModelStreamInfer',
        (x: Buffer) => x,
        (x: Buffer) => x,
        Buffer.alloc(0),
        (e) => resolve(e),
      ),
    );
    expect(unimplemented?.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  test('a malformed ModelInferRequest is answered INVALID_ARGUMENT naming the field, and the server goes on', async () => {
    const send = (bytes: Buffer) =>
      new Promise<grpc.ServiceError | null>((resolve) =>
        raw.makeUnaryRequest(
          '/inference.GRPCInferenceService/ModelInfer',
          (x: Buffer) => x,
          (x: Buffer) => x,
          bytes,
          (e) => resolve(e),
        ),
      );
    // model_name "simple", then raw_input_contents saying 1000 bytes where 2 follow
    const overLong = await send(Buffer.from('0a0673696d706c65' + '3ae807' + '0102', 'hex'));
    expect(overLong?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(overLong?.details).toMatch(/field raw_input_contents says 1000 bytes but only 2 remain/);
    const badVarint = await send(Buffer.from('c83e' + 'ff'.repeat(10) + '01', 'hex'));
    expect(badVarint?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(badVarint?.details).toMatch(/varint is longer than 10 bytes/);
    expect((await client.infer('simple', simpleInputs(1))).outputs).toHaveLength(2);
    // the client refuses what protobuf's int64 varints here cannot carry, before sending
    await expect(client.infer('simple', simpleInputs(1), { timeoutUs: -1 })).rejects.toThrow(
      /timeout must be a non-negative integer, got -1/,
    );
  });
});

describe('GR2: ModelInfer', () => {
  test('raw_input_contents in, raw_output_contents out, id echoed, version chosen', async () => {
    const reply = await client.infer('simple', simpleInputs(5, 2), { id: 'g-1', version: 1 });
    expect(reply.model_version).toBe('1');
    expect(reply.id).toBe('g-1');
    expect(reply.outputs.map((o) => [o.name, Array.from(o.data as Int32Array)[0]])).toEqual([
      ['OUTPUT0', 7],
      ['OUTPUT1', 3],
    ]);
  });

  test('typed contents work for every type protobuf can carry, 64-bit exact', async () => {
    const { error, response } = await call('ModelInfer', {
      model_name: 'all_types',
      inputs: [
        { name: 'IN_BOOL', datatype: 'BOOL', shape: [2], contents: { bool_contents: [true, false] } },
        { name: 'IN_UINT8', datatype: 'UINT8', shape: [2], contents: { uint_contents: [0, 255] } },
        { name: 'IN_UINT16', datatype: 'UINT16', shape: [2], contents: { uint_contents: [0, 65535] } },
        { name: 'IN_UINT32', datatype: 'UINT32', shape: [2], contents: { uint_contents: [0, 4294967295] } },
        {
          name: 'IN_UINT64',
          datatype: 'UINT64',
          shape: [2],
          contents: { uint64_contents: ['0', '18446744073709551615'] },
        },
        { name: 'IN_INT8', datatype: 'INT8', shape: [2], contents: { int_contents: [-128, 127] } },
        { name: 'IN_INT16', datatype: 'INT16', shape: [2], contents: { int_contents: [-32768, 32767] } },
        {
          name: 'IN_INT32',
          datatype: 'INT32',
          shape: [2],
          contents: { int_contents: [-2147483648, 2147483647] },
        },
        {
          name: 'IN_INT64',
          datatype: 'INT64',
          shape: [2],
          contents: { int64_contents: ['-9223372036854775808', '9007199254740993'] },
        },
        { name: 'IN_FP16', datatype: 'FP16', shape: [2] },
        { name: 'IN_FP32', datatype: 'FP32', shape: [2], contents: { fp32_contents: [1.5, -2] } },
        { name: 'IN_FP64', datatype: 'FP64', shape: [2], contents: { fp64_contents: [Math.PI, 1e300] } },
        {
          name: 'IN_BYTES',
          datatype: 'BYTES',
          shape: [2],
          contents: { bytes_contents: [Buffer.from('é'), Buffer.from('')] },
        },
      ],
    });
    // FP16 has no protobuf type: only raw works, and the error says so.
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error?.details).toMatch(/IN_FP16/);
    expect(response).toBeUndefined();
    const out = await client.infer('all_types', [
      { name: 'IN_BOOL', datatype: 'BOOL', shape: [1], data: new Uint8Array([1]) },
      { name: 'IN_UINT8', datatype: 'UINT8', shape: [1], data: new Uint8Array([1]) },
      { name: 'IN_UINT16', datatype: 'UINT16', shape: [1], data: new Uint16Array([1]) },
      { name: 'IN_UINT32', datatype: 'UINT32', shape: [1], data: new Uint32Array([1]) },
      { name: 'IN_UINT64', datatype: 'UINT64', shape: [1], data: new BigUint64Array([2n ** 64n - 1n]) },
      { name: 'IN_INT8', datatype: 'INT8', shape: [1], data: new Int8Array([1]) },
      { name: 'IN_INT16', datatype: 'INT16', shape: [1], data: new Int16Array([1]) },
      { name: 'IN_INT32', datatype: 'INT32', shape: [1], data: new Int32Array([1]) },
      { name: 'IN_INT64', datatype: 'INT64', shape: [1], data: new BigInt64Array([2n ** 62n + 1n]) },
      { name: 'IN_FP16', datatype: 'FP16', shape: [1], data: new Uint16Array([0x3c00]) },
      { name: 'IN_FP32', datatype: 'FP32', shape: [1], data: new Float32Array([1]) },
      { name: 'IN_FP64', datatype: 'FP64', shape: [1], data: new Float64Array([1]) },
      { name: 'IN_BYTES', datatype: 'BYTES', shape: [1], data: ['x'] },
    ]);
    expect(out.outputs.find((o) => o.name === 'OUT_INT64')!.data).toEqual(
      new BigInt64Array([2n ** 62n + 1n]),
    );
    expect(out.outputs.find((o) => o.name === 'OUT_UINT64')!.data).toEqual(
      new BigUint64Array([2n ** 64n - 1n]),
    );
    expect(out.outputs.find((o) => o.name === 'OUT_FP16')!.data).toEqual(new Uint16Array([0x3c00]));
    const typed = await call('ModelInfer', {
      model_name: 'simple',
      inputs: [
        {
          name: 'INPUT0',
          datatype: 'INT32',
          shape: [1, 16],
          contents: { int_contents: new Array(16).fill(4) },
        },
        {
          name: 'INPUT1',
          datatype: 'INT32',
          shape: [1, 16],
          contents: { int_contents: new Array(16).fill(1) },
        },
      ],
      outputs: [{ name: 'OUTPUT1' }],
    });
    expect(typed.error).toBeNull();
    const response2 = typed.response as { outputs: { name: string }[]; raw_output_contents: Buffer[] };
    expect(response2.outputs.map((o) => o.name)).toEqual(['OUTPUT1']);
    expect(Array.from(new Int32Array(new Uint8Array(response2.raw_output_contents[0]!).buffer))).toEqual(
      new Array(16).fill(3),
    );
  });

  test('malformed requests are INVALID_ARGUMENT naming the problem; the server goes on', async () => {
    const cases: [unknown, RegExp][] = [
      [
        {
          model_name: 'simple',
          inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: [1, 16] }],
          raw_input_contents: [Buffer.alloc(64), Buffer.alloc(64)],
        },
        /raw_input_contents has 2 entries but the request has 1 inputs/,
      ],
      [
        {
          model_name: 'simple',
          inputs: [
            { name: 'INPUT0', datatype: 'INT32', shape: [1, 16] },
            { name: 'INPUT1', datatype: 'INT32', shape: [1, 16] },
          ],
          raw_input_contents: [Buffer.alloc(60), Buffer.alloc(64)],
        },
        /raw_input_contents\[0\] has 60 bytes.*needs 64/,
      ],
      [
        {
          model_name: 'simple',
          inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: [1, 16], contents: { int_contents: [1] } }],
        },
        /int_contents has 1 elements.*needs 16/,
      ],
      [
        { model_name: 'simple', inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: ['-1', '16'] }] },
        /non-negative integers/,
      ],
      [
        { model_name: 'simple', inputs: [{ name: 'INPUT0', datatype: 'REAL', shape: [1] }] },
        /not a V2 datatype/,
      ],
      [
        { model_name: 'simple', parameters: { timeout: { string_param: 'x' } }, inputs: [] },
        /"timeout" must be a non-negative int64_param/,
      ],
    ];
    for (const [request, pattern] of cases) {
      const { error } = await call('ModelInfer', request);
      expect(error?.code, String(pattern)).toBe(grpc.status.INVALID_ARGUMENT);
      expect(error?.details).toMatch(pattern);
    }
    expect((await client.infer('simple', simpleInputs(1))).outputs).toHaveLength(2);
  });
});

describe('GR3: cancellation and deadlines', () => {
  test('a passed deadline and a cancelled call take the request out of the queue', async () => {
    const version = server.manager.resolve('slow');
    const before = version.stats.executionCount;
    const deadline = await client
      .infer('slow', simpleInputs(1), { deadlineMs: 200 })
      .catch((e: unknown) => e);
    expect(isInferenceError(deadline, 'INFERENCE_TIMEOUT')).toBe(true);
    await expect.poll(() => version.pendingCount, { timeout: 2000 }).toBe(0);
    const controller = new AbortController();
    const cancelled = client
      .infer('slow', simpleInputs(1), { signal: controller.signal })
      .catch((e: unknown) => e);
    await expect.poll(() => version.pendingCount).toBe(1);
    controller.abort();
    expect(isInferenceError(await cancelled, 'INFERENCE_CANCELLED')).toBe(true);
    await expect.poll(() => version.pendingCount, { timeout: 2000 }).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 3200));
    expect(version.stats.executionCount).toBe(before);
    expect(version.stats.failures.CANCELED).toBe(2);
  });
});
