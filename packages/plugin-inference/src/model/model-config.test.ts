import { describe, expect, test } from 'vitest';
import { completeModelConfig, parseModelConfig, pbtxtToJson } from './model-config.js';
import { parsePbtxt } from './pbtxt.js';

const TRACCC = `
name: "traccc-gpu"
backend: "onnxruntime"   # traccc-aaS uses its own backend; the shape is what matters here
max_batch_size: 0
input [
  { name: "CELL_POSITIONS", data_type: TYPE_INT64, dims: [ -1, 4 ] },
  { name: "CELL_PROPERTIES" data_type: TYPE_FP32 dims: [ -1, 2 ] }
]
output { name: "GEOMETRY_IDS" data_type: TYPE_INT64 dims: [ -1, 1 ] }
output { name: "TRK_PARAMS" data_type: TYPE_FP32 dims: [ -1, 8 ] }
instance_group [ { count: 2, kind: KIND_GPU, gpus: [ 0 ] } ]
parameters { key: "EXECUTION_MODEL_PATH" value: { string_value: "/models/odd" } }
parameters: { key: "intra_op_thread_count", value: { string_value: "1" } }
version_policy: { specific: { versions: [1, 3] } }
dynamic_batching { preferred_batch_size: 4 max_queue_delay_microseconds: 100
  default_queue_policy { max_queue_size: 64, timeout_action: REJECT, default_timeout_microseconds: 100000 } }
`;

describe('config.pbtxt', () => {
  test('parses Triton configurations: lists, repeated fields, enums, maps, comments', () => {
    const json = pbtxtToJson(parsePbtxt(TRACCC));
    expect(json).toMatchObject({
      name: 'traccc-gpu',
      max_batch_size: 0,
      input: [
        { name: 'CELL_POSITIONS', data_type: 'TYPE_INT64', dims: [-1, 4] },
        { name: 'CELL_PROPERTIES', data_type: 'TYPE_FP32', dims: [-1, 2] },
      ],
      output: [
        { name: 'GEOMETRY_IDS', data_type: 'TYPE_INT64', dims: [-1, 1] },
        { name: 'TRK_PARAMS', data_type: 'TYPE_FP32', dims: [-1, 8] },
      ],
      instance_group: [{ count: 2, kind: 'KIND_GPU', gpus: [0] }],
      parameters: {
        EXECUTION_MODEL_PATH: { string_value: '/models/odd' },
        intra_op_thread_count: { string_value: '1' },
      },
      version_policy: { specific: { versions: [1, 3] } },
      dynamic_batching: { preferred_batch_size: [4], max_queue_delay_microseconds: 100 },
    });
  });

  test('errors name the file, line and column', () => {
    expect(() => parsePbtxt('name: "x"\ninput [ { name: "a" ', 'm/config.pbtxt')).toThrow(
      /m\/config\.pbtxt: at the end: expected/,
    );
    expect(() => parsePbtxt('name "x"', 'c.pbtxt')).toThrow(/c\.pbtxt:1:6: expected ":" or "\{" after name/);
    expect(() => parsePbtxt('name: "x\n"', 'c.pbtxt')).toThrow(/c\.pbtxt:1:.*unterminated string/);
    expect(() => parsePbtxt('a: 1\n  b: $', 'c.pbtxt')).toThrow(/c\.pbtxt:2:6: unexpected character "\$"/);
    expect(() => parsePbtxt('__proto__ { a: 1 }', 'c.pbtxt')).toThrow(/__proto__/);
  });
});

describe('model configuration', () => {
  test('defaults: no batching, one instance, latest version, model.onnx', () => {
    expect(parseModelConfig({}, 'm', 'm')).toEqual({
      name: 'm',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      max_batch_size: 0,
      input: undefined,
      output: undefined,
      instance_group: [{ name: 'm_0', kind: 'KIND_AUTO', count: 1, gpus: [] }],
      version_policy: { latest: { num_versions: 1 } },
      default_model_filename: 'model.onnx',
      parameters: {},
    });
  });

  test('Triton JSON with 64-bit integers as strings is accepted', () => {
    const config = parseModelConfig(
      { max_batch_size: '8', dynamic_batching: { max_queue_delay_microseconds: '100' } },
      'm',
      'm/config.json',
    );
    expect(config.max_batch_size).toBe(8);
    expect(config.dynamic_batching?.max_queue_delay_microseconds).toBe(100);
  });

  test.each([
    [{ name: 'other' }, /name: "other" must equal the model's folder name "m"/],
    [{ platform: 'tensorflow_savedmodel' }, /platform: expected "onnxruntime_onnx"/],
    [{ max_batch_size: -1 }, /max_batch_size: /],
    [
      { input: [{ name: 'a', data_type: 'TYPE_FLOAT', dims: [1] }] },
      /input\[0\]\.data_type: expected one of TYPE_BOOL/,
    ],
    [
      {
        input: [
          { name: 'a', data_type: 'TYPE_FP32', dims: [1] },
          { name: 'a', data_type: 'TYPE_FP32', dims: [1] },
        ],
      },
      /"a" is listed twice/,
    ],
    [{ dynamic_batching: {} }, /dynamic_batching needs max_batch_size > 0/],
    [{ instance_group: [{ kind: 'KIND_TPU' }] }, /instance_group\[0\]\.kind/],
    [
      { default_model_filename: '../x.onnx' },
      /default_model_filename: expected a file name without a folder/,
    ],
    [{ version_policy: { latest: {}, all: {} } }, /version_policy/],
    [{ max_batch_size: 4, sequence_batching: {} }, /sequence_batching is not supported/],
    [
      { max_batch_size: 4, dynamic_batching: { default_queue_policy: { timeout_action: 'DELAY' } } },
      /timeout_action DELAY is not supported/,
    ],
  ])('refuses %j', (json, pattern) => {
    expect(() => parseModelConfig(json, 'm', 'm/config.json')).toThrow(pattern);
  });

  const meta = (name: string, type: string, shape: (number | string)[]) => ({
    name,
    isTensor: true,
    type,
    shape,
  });

  test('auto-completes inputs and outputs from the model, dropping the batch dimension', () => {
    const partial = parseModelConfig({ max_batch_size: 4 }, 'm', 'm');
    const config = completeModelConfig(
      partial,
      [meta('x', 'float32', ['batch', 3, 'n'])],
      [meta('y', 'int64', [-1, 1])],
      'm',
    );
    expect(config.input).toEqual([{ name: 'x', data_type: 'TYPE_FP32', dims: [3, -1] }]);
    expect(config.output).toEqual([{ name: 'y', data_type: 'TYPE_INT64', dims: [1] }]);
  });

  test('a configuration that disagrees with the model names the tensor and both sides', () => {
    const complete = (json: unknown) =>
      completeModelConfig(
        parseModelConfig(json, 'm', 'm/config.pbtxt'),
        [meta('x', 'int32', ['b', 16])],
        [meta('y', 'int32', ['b', 16])],
        'm/config.pbtxt',
      );
    expect(() => complete({ input: [{ name: 'z', data_type: 'TYPE_INT32', dims: [-1, 16] }] })).toThrow(
      /input "z" is not in the model \(its inputs: x\)/,
    );
    expect(() => complete({ input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [-1, 16] }] })).toThrow(
      /"x" is TYPE_FP32 in the configuration but TYPE_INT32 in the model/,
    );
    expect(() => complete({ input: [{ name: 'x', data_type: 'TYPE_INT32', dims: [-1, 8] }] })).toThrow(
      /dims \[-1, 8\] in the configuration but \[-1, 16\]/,
    );
    expect(() =>
      complete({ max_batch_size: 2, input: [{ name: 'x', data_type: 'TYPE_INT32', dims: [16] }] }),
    ).not.toThrow();
    expect(() =>
      completeModelConfig(
        parseModelConfig({ max_batch_size: 2 }, 'm', 'c'),
        [meta('x', 'int32', [3, 16])],
        [meta('y', 'int32', [3, 16])],
        'c',
      ),
    ).toThrow(/no variable first dimension to batch on/);
  });
});
