import { connect } from 'node:net';
import { once } from 'node:events';
import { Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InferenceHttpClient } from '../client/http-client.js';
import { InferenceServer } from '../server/inference-server.js';
import { encodeBinaryData } from './binary-tensor.js';
import { binaryBody, bytesOf, raw, type RawReply } from '../../test/support/http.js';
import { SIMPLE_METADATA, testRepository } from '../../test/support/repository.js';

let server: InferenceServer;
let base: string;
let client: InferenceHttpClient;

const ints = (n: number, f: (i: number) => number = (i) => i): number[] =>
  Array.from({ length: n }, (_, i) => f(i));
const simpleBody = (extra: Record<string, unknown> = {}) => ({
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: ints(16) },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: ints(16, () => 1) },
  ],
  ...extra,
});
const post = (path: string, body: unknown, headers: Record<string, string | number> = {}) =>
  raw(base, 'POST', path, typeof body === 'string' ? body : JSON.stringify(body), {
    'Content-Type': 'application/json',
    ...headers,
  });
const get = (path: string) => raw(base, 'GET', path);

/** G2: every non-2xx JSON reply is `{"error": "<non-empty>"}` with a JSON content type. */
function expectError(reply: RawReply, status: number | number[], pattern?: RegExp): void {
  const statuses = Array.isArray(status) ? status : [status];
  expect(statuses, `status ${reply.status}: ${reply.body.toString()}`).toContain(reply.status);
  expect(reply.headers['content-type']).toBe('application/json');
  const error = (reply.json as { error?: unknown }).error;
  expect(typeof error).toBe('string');
  expect((error as string).length).toBeGreaterThan(0);
  if (pattern) expect(error).toMatch(pattern);
}

beforeAll(async () => {
  const repository = await testRepository();
  server = new InferenceServer({
    repository,
    controlMode: 'explicit',
    loadModels: ['*'],
    httpPort: 0,
    grpcPort: false,
    metricsPort: false,
    cpus: 2,
  });
  base = (await server.start()).http!;
  client = new InferenceHttpClient(base);
}, 120_000);

afterAll(async () => {
  client?.close();
  await server?.close();
});

describe('general (G1–G6)', () => {
  test('G1: paths are case-sensitive', async () => {
    expectError(await get('/V2/health/live'), 404, /^Not Found$/);
    expectError(await get('/v2/models/SIMPLE'), 404);
  });

  test('G3: unknown route 404, wrong verb 405', async () => {
    expectError(await get('/v2/nothing'), 404, /^Not Found$/);
    expectError(await get('/v2/models/simple/versions/abc'), 404);
    expectError(await raw(base, 'DELETE', '/v2'), 405, /^Method Not Allowed$/);
    expectError(await get('/v2/models/simple/infer'), 405);
    expectError(await get('/v2/repository/index'), 405);
  });

  test('G4/G5: versions on every model route; unknown model 404, unknown version 4xx', async () => {
    expect((await get('/v2/models/simple/versions/1/ready')).status).toBe(200);
    expect((await get('/v2/models/simple/versions/2')).status).toBe(200);
    expect((await get('/v2/models/simple/versions/1/config')).status).toBe(200);
    expect((await get('/v2/models/simple/versions/1/stats')).status).toBe(200);
    const infer = await post('/v2/models/simple/versions/1/infer', simpleBody());
    expect(infer.status).toBe(200);
    expect((infer.json as { model_version: string }).model_version).toBe('1');
    expectError(await get('/v2/models/simple/versions/7/ready'), [400, 404]);
    expectError(await post('/v2/models/simple/versions/7/infer', simpleBody()), [400, 404]);
    expectError(await get('/v2/models/nope'), 404, /unknown model/);
    expectError(await post('/v2/models/nope/infer', simpleBody()), 404);
  });

  test('G6: 1000 sequential requests on one keep-alive socket', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const ports = new Set<number | undefined>();
    for (let i = 0; i < 1000; i += 1) {
      const reply = await raw(
        base,
        i % 2 ? 'GET' : 'POST',
        i % 2 ? '/v2/health/ready' : '/v2/models/simple/infer',
        i % 2 ? undefined : JSON.stringify(simpleBody()),
        {},
        agent,
      );
      expect(reply.status).toBe(200);
      ports.add(reply.localPort);
    }
    agent.destroy();
    expect(ports.size).toBe(1);
  }, 120_000);
});

describe('health and metadata (L, R, MR, SM, MM)', () => {
  test('L1/L2/R1: live and ready are 200 with an empty body; POST is 405', async () => {
    for (const path of ['/v2/health/live', '/v2/health/ready']) {
      const reply = await get(path);
      expect(reply.status).toBe(200);
      expect(reply.headers['content-length']).toBe('0');
      expectError(await raw(base, 'POST', path), 405);
    }
  });

  test('MR1/MR2: model ready 200; unknown model or version 4xx with an error', async () => {
    expect((await get('/v2/models/simple/ready')).status).toBe(200);
    expectError(await get('/v2/models/unknown/ready'), [400, 404]);
    expectError(await get('/v2/models/simple/versions/3/ready'), [400, 404]);
  });

  test('SM1/SM2: server metadata lists exactly the implemented extensions', async () => {
    const reply = await get('/v2');
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({
      name: 'beamline-inference',
      version: expect.any(String) as string,
      extensions: [
        'binary_tensor_data',
        'model_repository',
        'model_configuration',
        'statistics',
        'schedule_policy',
        'parameters',
      ],
    });
  });

  test('MM1/MM2/MM3: model metadata, batch dimension −1 first, unknown model 404', async () => {
    expect(await client.modelMetadata('simple')).toEqual(SIMPLE_METADATA);
    const allTypes = await client.modelMetadata('all_types');
    expect(allTypes.inputs.map((t) => t.datatype)).toEqual([
      'BOOL',
      'UINT8',
      'UINT16',
      'UINT32',
      'UINT64',
      'INT8',
      'INT16',
      'INT32',
      'INT64',
      'FP16',
      'FP32',
      'FP64',
      'BYTES',
    ]);
    expect(allTypes.inputs[0]!.shape).toEqual([-1]);
    expectError(await get('/v2/models/missing'), 404);
  });

  test('C1: configuration in Triton form (auto-completed where the file is absent)', async () => {
    const config = await client.modelConfig('simple');
    expect(config).toMatchObject({
      name: 'simple',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      max_batch_size: 8,
      input: [
        { name: 'INPUT0', data_type: 'TYPE_INT32', dims: [16] },
        { name: 'INPUT1', data_type: 'TYPE_INT32', dims: [16] },
      ],
      output: [
        { name: 'OUTPUT0', data_type: 'TYPE_INT32', dims: [16] },
        { name: 'OUTPUT1', data_type: 'TYPE_INT32', dims: [16] },
      ],
      instance_group: [{ kind: 'KIND_AUTO', count: 1 }],
      dynamic_batching: { max_queue_delay_microseconds: 0 },
      version_policy: { all: {} },
    });
    const auto = await client.modelConfig('all_types');
    expect(auto.max_batch_size).toBe(0);
    expect(auto.input[12]).toEqual({ name: 'IN_BYTES', data_type: 'TYPE_STRING', dims: [-1] });
    expect((await client.modelConfig('add_fp32')).input[0]!.data_type).toBe('TYPE_FP32');
  });
});

describe('inference (I1–I9)', () => {
  test('I1/I2/I8: every output, id echoed, model_version present', async () => {
    const reply = await post('/v2/models/simple/infer', simpleBody({ id: 'req-ü-1' }));
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.headers['inference-header-content-length']).toBeUndefined();
    expect(reply.json).toEqual({
      model_name: 'simple',
      model_version: '2',
      id: 'req-ü-1',
      outputs: [
        { name: 'OUTPUT0', datatype: 'INT32', shape: [1, 16], data: ints(16, (i) => i + 1) },
        { name: 'OUTPUT1', datatype: 'INT32', shape: [1, 16], data: ints(16, (i) => i - 1) },
      ],
    });
    const noId = await post('/v2/models/simple/infer', simpleBody());
    expect((noId.json as { id?: string }).id).toBeUndefined();
  });

  test('I3: outputs asked for are the only ones returned', async () => {
    const reply = await post('/v2/models/simple/infer', simpleBody({ outputs: [{ name: 'OUTPUT1' }] }));
    expect((reply.json as { outputs: { name: string }[] }).outputs.map((o) => o.name)).toEqual(['OUTPUT1']);
  });

  test('I4: nested and flat data give identical results', async () => {
    const nested = {
      inputs: [
        { name: 'INPUT0', shape: [2, 16], datatype: 'INT32', data: [ints(16), ints(16, (i) => 2 * i)] },
        { name: 'INPUT1', shape: [2, 16], datatype: 'INT32', data: [ints(16, () => 1), ints(16, () => 3)] },
      ],
    };
    const flat = {
      inputs: [
        { name: 'INPUT0', shape: [2, 16], datatype: 'INT32', data: [...ints(16), ...ints(16, (i) => 2 * i)] },
        {
          name: 'INPUT1',
          shape: [2, 16],
          datatype: 'INT32',
          data: [...ints(16, () => 1), ...ints(16, () => 3)],
        },
      ],
    };
    const a = await post('/v2/models/simple/infer', nested);
    const b = await post('/v2/models/simple/infer', flat);
    expect(a.status).toBe(200);
    expect(a.json).toEqual(b.json);
  });

  test('I5: every datatype round-trips exactly, JSON and binary, 64-bit beyond 2^53', async () => {
    const inputs = [
      { name: 'IN_BOOL', datatype: 'BOOL' as const, shape: [3], data: new Uint8Array([1, 0, 1]) },
      { name: 'IN_UINT8', datatype: 'UINT8' as const, shape: [3], data: new Uint8Array([0, 128, 255]) },
      { name: 'IN_UINT16', datatype: 'UINT16' as const, shape: [3], data: new Uint16Array([0, 1, 65535]) },
      {
        name: 'IN_UINT32',
        datatype: 'UINT32' as const,
        shape: [3],
        data: new Uint32Array([0, 7, 4294967295]),
      },
      {
        name: 'IN_UINT64',
        datatype: 'UINT64' as const,
        shape: [3],
        data: new BigUint64Array([0n, 2n ** 53n + 1n, 2n ** 64n - 1n]),
      },
      { name: 'IN_INT8', datatype: 'INT8' as const, shape: [3], data: new Int8Array([-128, 0, 127]) },
      { name: 'IN_INT16', datatype: 'INT16' as const, shape: [3], data: new Int16Array([-32768, 0, 32767]) },
      {
        name: 'IN_INT32',
        datatype: 'INT32' as const,
        shape: [3],
        data: new Int32Array([-2147483648, 0, 2147483647]),
      },
      {
        name: 'IN_INT64',
        datatype: 'INT64' as const,
        shape: [3],
        data: new BigInt64Array([-(2n ** 63n), 2n ** 53n + 1n, 2n ** 63n - 1n]),
      },
      {
        name: 'IN_FP16',
        datatype: 'FP16' as const,
        shape: [3],
        data: new Uint16Array([0x3c00, 0xc000, 0x7bff]),
      },
      { name: 'IN_FP32', datatype: 'FP32' as const, shape: [3], data: new Float32Array([1.5, -0.1, 3.4e38]) },
      {
        name: 'IN_FP64',
        datatype: 'FP64' as const,
        shape: [3],
        data: new Float64Array([Math.PI, -1e-300, 1e300]),
      },
      { name: 'IN_BYTES', datatype: 'BYTES' as const, shape: [3], data: ['', 'héllo', 'a b ✓'] },
    ];
    const binary = await client.infer('all_types', inputs);
    for (const input of inputs) {
      const output = binary.outputs.find((o) => o.name === input.name.replace('IN_', 'OUT_'))!;
      expect(output.datatype).toBe(input.datatype);
      expect(output.shape).toEqual([3]);
      expect(output.data).toEqual(input.data);
    }
    // JSON path: every type but FP16 (JSON cannot carry it), 64-bit outputs written exactly.
    const jsonInputs = inputs.filter((input) => input.datatype !== 'FP16' && !input.datatype.endsWith('64'));
    // every type but FP16 as JSON data, 64-bit values within what JSON numbers hold exactly
    const asJson = [
      ...jsonInputs.map((input) => ({
        name: input.name,
        datatype: input.datatype,
        shape: input.shape,
        data:
          input.datatype === 'BOOL'
            ? Array.from(input.data as Uint8Array, Boolean)
            : Array.from(input.data as ArrayLike<unknown>),
      })),
      { name: 'IN_UINT64', datatype: 'UINT64', shape: [3], data: [0, 1, 2 ** 53 - 1] },
      { name: 'IN_INT64', datatype: 'INT64', shape: [3], data: [-(2 ** 53) + 1, 0, 2 ** 53 - 1] },
      { name: 'IN_FP64', datatype: 'FP64', shape: [3], data: [Math.PI, -1e-300, 1e300] },
    ];
    const reply = await post(
      '/v2/models/all_types/infer',
      {
        inputs: [...asJson],
        outputs: [
          { name: 'OUT_BOOL' },
          { name: 'OUT_FP32' },
          { name: 'OUT_FP64' },
          { name: 'OUT_INT64' },
          { name: 'OUT_BYTES' },
        ],
      },
      {},
    );
    // IN_FP16 is missing on purpose: the error must say so.
    expectError(reply, 400, /IN_FP16/);
    const jsonWithFp16 = await raw(
      base,
      'POST',
      '/v2/models/all_types/infer',
      JSON.stringify({
        inputs: [...asJson, { name: 'IN_FP16', datatype: 'FP16', shape: [3], data: [1, 2, 3] }],
      }),
    );
    expectError(jsonWithFp16, 400, /FP16 data via JSON is not supported/);
    // A JSON request with a binary FP16 input (B2 mixed) and JSON outputs.
    const fp16 = new Uint16Array([0x3c00, 0xc000, 0x7bff]);
    const mixed = binaryBody(
      {
        inputs: [
          ...asJson,
          { name: 'IN_FP16', datatype: 'FP16', shape: [3], parameters: { binary_data_size: 6 } },
        ],
      },
      [bytesOf(fp16)],
    );
    const ok = await raw(base, 'POST', '/v2/models/all_types/infer', mixed.body, mixed.headers);
    expect(ok.status, ok.body.toString()).toBe(200);
    const outputs = (ok.json as { outputs: { name: string; data: unknown[] }[] }).outputs;
    const byName = (name: string) => outputs.find((o) => o.name === name)!.data;
    expect(byName('OUT_BOOL')).toEqual([true, false, true]);
    expect(byName('OUT_FP32')).toEqual([1.5, Math.fround(-0.1), Math.fround(3.4e38)]);
    expect(byName('OUT_FP64')).toEqual([Math.PI, -1e-300, 1e300]);
    expect(byName('OUT_BYTES')).toEqual(['', 'héllo', 'a b ✓']);
    expect(byName('OUT_FP16')).toEqual([1, -2, 65504]);
    expect(byName('OUT_INT64')).toEqual([-(2 ** 53) + 1, 0, 2 ** 53 - 1]);
    // Binary inputs, JSON outputs: 64-bit values beyond 2^53 are written with their exact digits.
    const allBinary = binaryBody(
      {
        inputs: inputs.map((input) => ({
          name: input.name,
          datatype: input.datatype,
          shape: input.shape,
          parameters: { binary_data_size: encodeBinaryData(input.datatype, input.data).length },
        })),
        outputs: [{ name: 'OUT_INT64' }, { name: 'OUT_UINT64' }],
      },
      inputs.map((input) => encodeBinaryData(input.datatype, input.data)),
    );
    const exact = await raw(base, 'POST', '/v2/models/all_types/infer', allBinary.body, allBinary.headers);
    expect(exact.status).toBe(200);
    expect(exact.body.toString()).toContain(
      '"data":[-9223372036854775808,9007199254740993,9223372036854775807]',
    );
    expect(exact.body.toString()).toContain('"data":[0,9007199254740993,18446744073709551615]');
    // A JSON 64-bit value JSON.parse cannot hold exactly is refused, not rounded.
    expectError(
      await post('/v2/models/all_types/infer', {
        inputs: [{ name: 'IN_INT64', datatype: 'INT64', shape: [1], data: [2 ** 60] }],
      }),
      400,
      /within ±2\^53.*binary data format/,
    );
  });

  test('I5: a BYTES element with a NUL byte is refused (onnxruntime strings end at NUL)', async () => {
    const reply = await post('/v2/models/identity_bytes/infer', {
      inputs: [{ name: 'INPUT', datatype: 'BYTES', shape: [1], data: ['a\u0000b'] }],
    });
    expectError(reply, 400, /NUL/);
  });

  test('I6: FP16 and BF16 in JSON are refused with an explanation', async () => {
    const reply = await post('/v2/models/identity/infer', {
      inputs: [{ name: 'INPUT', datatype: 'BF16', shape: [1, 1], data: [1] }],
    });
    expectError(reply, 400, /BF16 data via JSON is not supported/);
  });

  test('I7: every malformed request is a 400 naming the problem, and the server answers the next one', async () => {
    const cases: [unknown, RegExp][] = [
      [
        { inputs: [...simpleBody().inputs, { name: 'EXTRA', shape: [1], datatype: 'INT32', data: [1] }] },
        /unexpected inference input 'EXTRA'/,
      ],
      [{ inputs: [simpleBody().inputs[0]] }, /input 'INPUT1' is missing/],
      [
        { inputs: [{ ...simpleBody().inputs[0], datatype: 'FP32' }, simpleBody().inputs[1]] },
        /'INPUT0' data-type is 'FP32'.*expects 'INT32'/,
      ],
      [
        { inputs: [{ ...simpleBody().inputs[0], data: ints(15) }, simpleBody().inputs[1]] },
        /INPUT0.*needs 16, got 15/,
      ],
      [
        { inputs: [{ ...simpleBody().inputs[0], shape: [16] }, simpleBody().inputs[1]] },
        /unexpected shape for input 'INPUT0'/,
      ],
      [
        {
          inputs: [
            { ...simpleBody().inputs[0], shape: [9, 16], data: ints(144) },
            { ...simpleBody().inputs[1], shape: [9, 16], data: ints(144) },
          ],
        },
        /batch-size 9.*maximum batch size 8/,
      ],
      [simpleBody({ outputs: [{ name: 'NOPE' }] }), /unexpected inference output 'NOPE'/],
      [{ inputs: [simpleBody().inputs[0], simpleBody().inputs[0]] }, /input 'INPUT0' is given twice/],
      [{ inputs: [...simpleBody().inputs, simpleBody().inputs[0]] }, /input 'INPUT0' is given twice/],
      [
        simpleBody({ outputs: [{ name: 'OUTPUT0' }, { name: 'OUTPUT0' }] }),
        /output 'OUTPUT0' is requested twice/,
      ],
      [
        {
          inputs: [{ ...simpleBody().inputs[0], shape: [2, 16], data: ints(32) }, simpleBody().inputs[1]],
        },
        /input 'INPUT1' has batch size 1 but an earlier input has 2/,
      ],
      ['{"inputs": [', /failed to parse the request JSON/],
      [
        { inputs: [{ ...simpleBody().inputs[0], shape: [1, -16] }, simpleBody().inputs[1]] },
        /shape must be a list of non-negative integers/,
      ],
      [
        { inputs: [{ ...simpleBody().inputs[0], shape: [1, 1.5] }, simpleBody().inputs[1]] },
        /shape must be a list of non-negative integers/,
      ],
      [
        { inputs: [{ ...simpleBody().inputs[0], datatype: 'FLOAT' }, simpleBody().inputs[1]] },
        /datatype "FLOAT" is not a V2 datatype/,
      ],
      [
        { inputs: [{ ...simpleBody().inputs[0], data: [...ints(15), 'x'] }, simpleBody().inputs[1]] },
        /element 15 is "x", expected an integer/,
      ],
      [
        { inputs: [{ ...simpleBody().inputs[0], data: [...ints(15), 2 ** 31] }, simpleBody().inputs[1]] },
        /element 15 .*-2147483648 to 2147483647/,
      ],
      [{ inputs: 'none' }, /"inputs" must be a list/],
      [[1, 2], /JSON object/],
      [
        { inputs: [{ name: 'INPUT0', shape: [1, 16], datatype: 'INT32' }, simpleBody().inputs[1]] },
        /neither "data" nor/,
      ],
      [{ id: 5, ...simpleBody() }, /"id" must be a string/],
      [simpleBody({ parameters: { timeout: 'soon' } }), /"timeout" must be a non-negative integer/],
    ];
    for (const [body, pattern] of cases) {
      expectError(await post('/v2/models/simple/infer', body), 400, pattern);
      expect((await post('/v2/models/simple/infer', simpleBody())).status).toBe(200);
    }
  });

  test('I9: unknown parameters are ignored; priority and timeout accepted', async () => {
    const reply = await post(
      '/v2/models/simple/infer',
      simpleBody({ parameters: { something: 'else', priority: 1, timeout: 5_000_000 } }),
    );
    expect(reply.status).toBe(200);
  });
});

describe('binary tensor extension (B1–B8)', () => {
  const a = new Int32Array(ints(16, (i) => i * 1000));
  const b = new Int32Array(ints(16, (i) => -i));

  test('B1/B6: binary inputs after the JSON; binary outputs with binary_data_size and the header', async () => {
    const { body, headers } = binaryBody(
      {
        inputs: [
          { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', parameters: { binary_data_size: 64 } },
          { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', parameters: { binary_data_size: 64 } },
        ],
        parameters: { binary_data_output: true },
        outputs: [{ name: 'OUTPUT0' }, { name: 'OUTPUT1', parameters: { binary_data: false } }],
      },
      [bytesOf(a), bytesOf(b)],
    );
    const reply = await raw(base, 'POST', '/v2/models/simple/infer', body, headers);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/octet-stream');
    const jsonLength = Number(reply.headers['inference-header-content-length']);
    const head = JSON.parse(reply.body.subarray(0, jsonLength).toString()) as {
      outputs: { name: string; parameters?: { binary_data_size: number }; data?: number[] }[];
    };
    expect(head.outputs[0]).toEqual({
      name: 'OUTPUT0',
      datatype: 'INT32',
      shape: [1, 16],
      parameters: { binary_data_size: 64 },
    });
    expect(head.outputs[1]!.data).toEqual(Array.from(a, (v, i) => v - b[i]!));
    expect(reply.body.length).toBe(jsonLength + 64);
    const out0 = new Int32Array(
      reply.body.buffer.slice(reply.body.byteOffset + jsonLength, reply.body.byteOffset + jsonLength + 64),
    );
    expect(Array.from(out0)).toEqual(Array.from(a, (v, i) => v + b[i]!));
  });

  test('large binary tensors arrive in many chunks and leave whole, byte for byte, with or without Content-Length', async () => {
    const values = new Float32Array(300_000).map((_, i) => i * 0.5 - 7);
    const bytes = bytesOf(values);
    for (const chunked of [false, true]) {
      // an odd-length JSON head, the data in uneven pieces
      const { body, headers } = binaryBody(
        {
          id: 'x'.repeat(chunked ? 3 : 4),
          inputs: [
            {
              name: 'INPUT',
              shape: [1, values.length],
              datatype: 'FP32',
              parameters: { binary_data_size: bytes.length },
            },
          ],
          parameters: { binary_data_output: true },
        },
        [bytes.subarray(0, 1001), bytes.subarray(1001, 700_001), bytes.subarray(700_001)],
      );
      const reply = await raw(
        base,
        'POST',
        '/v2/models/identity/infer',
        body,
        chunked ? { ...headers, 'Transfer-Encoding': 'chunked' } : headers,
      );
      expect(reply.status, reply.body.toString().slice(0, 200)).toBe(200);
      const jsonLength = Number(reply.headers['inference-header-content-length']);
      expect(reply.body.length).toBe(jsonLength + bytes.length);
      expect(Buffer.compare(reply.body.subarray(jsonLength), Buffer.from(bytes))).toBe(0);
    }
  });

  test('B3: binary_data_size that does not match the shape, or overruns the body, is 400', async () => {
    const wrong = binaryBody(
      {
        inputs: [
          { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', parameters: { binary_data_size: 60 } },
          { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', parameters: { binary_data_size: 64 } },
        ],
      },
      [bytesOf(a).subarray(0, 60), bytesOf(b)],
    );
    expectError(
      await raw(base, 'POST', '/v2/models/simple/infer', wrong.body, wrong.headers),
      400,
      /binary_data_size 60.*needs 64/,
    );
    const overrun = binaryBody(
      {
        inputs: [
          { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', parameters: { binary_data_size: 64 } },
          { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', parameters: { binary_data_size: 64 } },
        ],
      },
      [bytesOf(a)],
    );
    expectError(
      await raw(base, 'POST', '/v2/models/simple/infer', overrun.body, overrun.headers),
      400,
      /overruns the body/,
    );
  });

  test('B4: header absent means JSON; non-numeric, negative or too large is 400', async () => {
    const json = JSON.stringify(simpleBody());
    for (const value of ['abc', '-1', String(json.length + 1), '1e3']) {
      expectError(
        await raw(base, 'POST', '/v2/models/simple/infer', json, {
          'Inference-Header-Content-Length': value,
        }),
        400,
        /Inference-Header-Content-Length/,
      );
    }
    expect(
      (
        await raw(base, 'POST', '/v2/models/simple/infer', json, {
          'Inference-Header-Content-Length': json.length,
        })
      ).status,
    ).toBe(200);
  });

  test('B5: BYTES as length-prefixed elements; a bad prefix is 400', async () => {
    const reply = await client.infer(
      'all_types',
      [
        { name: 'IN_BOOL', datatype: 'BOOL', shape: [1], data: new Uint8Array([1]) },
        { name: 'IN_UINT8', datatype: 'UINT8', shape: [1], data: new Uint8Array([1]) },
        { name: 'IN_UINT16', datatype: 'UINT16', shape: [1], data: new Uint16Array([1]) },
        { name: 'IN_UINT32', datatype: 'UINT32', shape: [1], data: new Uint32Array([1]) },
        { name: 'IN_UINT64', datatype: 'UINT64', shape: [1], data: new BigUint64Array([1n]) },
        { name: 'IN_INT8', datatype: 'INT8', shape: [1], data: new Int8Array([1]) },
        { name: 'IN_INT16', datatype: 'INT16', shape: [1], data: new Int16Array([1]) },
        { name: 'IN_INT32', datatype: 'INT32', shape: [1], data: new Int32Array([1]) },
        { name: 'IN_INT64', datatype: 'INT64', shape: [1], data: new BigInt64Array([1n]) },
        { name: 'IN_FP16', datatype: 'FP16', shape: [1], data: new Uint16Array([0]) },
        { name: 'IN_FP32', datatype: 'FP32', shape: [1], data: new Float32Array([1]) },
        { name: 'IN_FP64', datatype: 'FP64', shape: [1], data: new Float64Array([1]) },
        { name: 'IN_BYTES', datatype: 'BYTES', shape: [1], data: ['x'.repeat(70_000)] },
      ],
      { outputs: ['OUT_BYTES'] },
    );
    expect(reply.outputs).toEqual([
      { name: 'OUT_BYTES', datatype: 'BYTES', shape: [1], data: ['x'.repeat(70_000)] },
    ]);
    const bad = Buffer.from([200, 0, 0, 0, 65]);
    const body = binaryBody(
      {
        inputs: [
          { name: 'INPUT', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: bad.length } },
        ],
      },
      [bad],
    );
    expectError(
      await raw(base, 'POST', '/v2/models/identity_bytes/infer', body.body, body.headers),
      400,
      /says 200 bytes but only 1 remain/,
    );
  });

  test('B7: no binary output asked for: plain JSON without the header', async () => {
    const { body, headers } = binaryBody(
      {
        inputs: [
          { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', parameters: { binary_data_size: 64 } },
          { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', parameters: { binary_data_size: 64 } },
        ],
      },
      [bytesOf(a), bytesOf(b)],
    );
    const reply = await raw(base, 'POST', '/v2/models/simple/infer', body, headers);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.headers['inference-header-content-length']).toBeUndefined();
    expect((reply.json as { outputs: unknown[] }).outputs).toHaveLength(2);
  });

  test('B8: raw request on a one-input model is batch 1 with binary outputs; a two-input model is 400', async () => {
    const input = new Float32Array([1, 2, 3, 4, 5]);
    const reply = await raw(base, 'POST', '/v2/models/identity/infer', Buffer.from(bytesOf(input)), {
      'Inference-Header-Content-Length': 0,
      'Content-Type': 'application/octet-stream',
    });
    expect(reply.status, reply.body.toString()).toBe(200);
    const jsonLength = Number(reply.headers['inference-header-content-length']);
    const head = JSON.parse(reply.body.subarray(0, jsonLength).toString()) as {
      outputs: { shape: number[] }[];
    };
    expect(head.outputs[0]!.shape).toEqual([1, 5]);
    expect(Buffer.compare(reply.body.subarray(jsonLength), Buffer.from(bytesOf(input)))).toBe(0);
    expectError(
      await raw(base, 'POST', '/v2/models/simple/infer', Buffer.alloc(64), {
        'Inference-Header-Content-Length': 0,
      }),
      400,
      /one input/,
    );
  });
});

describe('statistics (ST1–ST3)', () => {
  test('ST1/ST2: shape, and counts grow by N after N requests', async () => {
    const before = (await client.statistics('simple', 2))[0]!;
    for (let i = 0; i < 5; i += 1) await post('/v2/models/simple/infer', simpleBody());
    const after = (await client.statistics('simple', 2))[0]!;
    expect(after.name).toBe('simple');
    expect(after.version).toBe('2');
    expect(after.inference_count - before.inference_count).toBe(5);
    expect(after.execution_count - before.execution_count).toBe(5);
    expect(after.inference_stats.success.count - before.inference_stats.success.count).toBe(5);
    for (const key of [
      'success',
      'fail',
      'queue',
      'compute_input',
      'compute_infer',
      'compute_output',
      'cache_hit',
      'cache_miss',
    ] as const) {
      expect(Number.isInteger(after.inference_stats[key].count)).toBe(true);
      expect(Number.isInteger(after.inference_stats[key].ns)).toBe(true);
    }
    expect(after.inference_stats.compute_infer.ns).toBeGreaterThan(0);
    expect(after.last_inference).toBeGreaterThan(Date.now() - 60_000);
    expect(after.batch_stats.find((s) => s.batch_size === 1)?.compute_infer.count).toBeGreaterThanOrEqual(5);
  });

  test('ST3: all models; unknown model 4xx', async () => {
    const all = await client.statistics();
    expect(all.map((s) => `${s.name}/${s.version}`)).toEqual(
      expect.arrayContaining(['simple/1', 'simple/2', 'all_types/1', 'mlp/1']),
    );
    expectError(await get('/v2/models/nope/stats'), [400, 404]);
  });
});

describe('hostile bodies', () => {
  test('deeply nested JSON, huge shapes, a NUL in names: 400 and the server answers on', async () => {
    const deep = `{"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"INT32","data":${'['.repeat(5000)}1${']'.repeat(5000)}}]}`;
    expectError(await post('/v2/models/simple/infer', deep), 400);
    expectError(
      await post('/v2/models/simple/infer', {
        inputs: [{ ...simpleBody().inputs[0], shape: [1e15, 1e15] }, simpleBody().inputs[1]],
      }),
      400,
    );
    expectError(
      await post('/v2/models/simple/infer', { inputs: [{ ...simpleBody().inputs[0], name: 'IN\u0000' }] }),
      400,
    );
    expectError(await get('/v2/models/%E0%A4%A/ready'), 400);
    expect((await post('/v2/models/simple/infer', simpleBody())).status).toBe(200);
  });

  test('a body that declares 60 MB and sends little does not make the server hold 60 MB', async () => {
    const url = new URL(base);
    const socket = connect(Number(url.port), url.hostname);
    await once(socket, 'connect');
    const before = process.memoryUsage().arrayBuffers;
    socket.write(
      'POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 60000000\r\n\r\n' +
        'x'.repeat(200_000),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(20_000_000);
    socket.destroy();
    expect((await post('/v2/models/simple/infer', simpleBody())).status).toBe(200);
  });
});
