import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';

/** ONNX element type numbers (TensorProto.DataType). */
export const OnnxType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
} as const;

type Dim = number | string;

const info = (name: string, elemType: number, dims: readonly Dim[]) => ({
  name,
  type: {
    tensorType: {
      elemType,
      shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
    },
  },
});

interface GraphSpec {
  name: string;
  nodes: { opType: string; input: string[]; output: string[]; attribute?: unknown[] }[];
  inputs: [string, number, readonly Dim[]][];
  outputs: [string, number, readonly Dim[]][];
  initializers?: { name: string; dims: number[]; values: Float32Array | BigInt64Array }[];
}

/** Encodes a small ONNX model (opset 13). */
function buildModel(spec: GraphSpec): Uint8Array {
  const model = onnx.ModelProto.fromObject({
    irVersion: 7,
    producerName: 'plugin-inference-tests',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: spec.name,
      node: spec.nodes,
      input: spec.inputs.map(([n, t, d]) => info(n, t, d)),
      output: spec.outputs.map(([n, t, d]) => info(n, t, d)),
      initializer: (spec.initializers ?? []).map((init) => ({
        name: init.name,
        dims: init.dims,
        dataType: init.values instanceof Float32Array ? OnnxType.FLOAT : OnnxType.INT64,
        rawData: new Uint8Array(init.values.buffer, init.values.byteOffset, init.values.byteLength),
      })),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Triton's "simple" model: OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 − INPUT1, `[batch, 16]`. */
export function addSubModel(
  elemType: number = OnnxType.INT32,
  dims: readonly Dim[] = ['batch', 16],
): Uint8Array {
  return buildModel({
    name: 'add_sub',
    nodes: [
      { opType: 'Add', input: ['INPUT0', 'INPUT1'], output: ['OUTPUT0'] },
      { opType: 'Sub', input: ['INPUT0', 'INPUT1'], output: ['OUTPUT1'] },
    ],
    inputs: [
      ['INPUT0', elemType, dims],
      ['INPUT1', elemType, dims],
    ],
    outputs: [
      ['OUTPUT0', elemType, dims],
      ['OUTPUT1', elemType, dims],
    ],
  });
}

/** Every datatype through Identity: input `IN_<T>` → output `OUT_<T>`, shape `[n]`. */
const ALL_TYPES: [string, number][] = [
  ['BOOL', OnnxType.BOOL],
  ['UINT8', OnnxType.UINT8],
  ['UINT16', OnnxType.UINT16],
  ['UINT32', OnnxType.UINT32],
  ['UINT64', OnnxType.UINT64],
  ['INT8', OnnxType.INT8],
  ['INT16', OnnxType.INT16],
  ['INT32', OnnxType.INT32],
  ['INT64', OnnxType.INT64],
  ['FP16', OnnxType.FLOAT16],
  ['FP32', OnnxType.FLOAT],
  ['FP64', OnnxType.DOUBLE],
  ['BYTES', OnnxType.STRING],
];

export function allTypesModel(): Uint8Array {
  return buildModel({
    name: 'all_types',
    nodes: ALL_TYPES.map(([name]) => ({
      opType: 'Identity',
      input: [`IN_${name}`],
      output: [`OUT_${name}`],
    })),
    inputs: ALL_TYPES.map(([name, type]) => [`IN_${name}`, type, ['n']]),
    outputs: ALL_TYPES.map(([name, type]) => [`OUT_${name}`, type, ['n']]),
  });
}

/** A deterministic pseudo-random Float32Array. */
function weights(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < count; i += 1) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = (state / 2 ** 32 - 0.5) * 0.2;
  }
  return out;
}

/** MLP 256 → 256 → 16 (MatMul, Relu, MatMul) on `[batch, 256]` FP32. */
export function mlpModel(inputSize = 256, hidden = 256, outputs = 16): Uint8Array {
  return buildModel({
    name: 'mlp',
    nodes: [
      { opType: 'MatMul', input: ['INPUT', 'W1'], output: ['H'] },
      { opType: 'Relu', input: ['H'], output: ['R'] },
      { opType: 'MatMul', input: ['R', 'W2'], output: ['OUTPUT'] },
    ],
    inputs: [['INPUT', OnnxType.FLOAT, ['batch', inputSize]]],
    outputs: [['OUTPUT', OnnxType.FLOAT, ['batch', outputs]]],
    initializers: [
      { name: 'W1', dims: [inputSize, hidden], values: weights(inputSize * hidden, 1) },
      { name: 'W2', dims: [hidden, outputs], values: weights(hidden * outputs, 2) },
    ],
  });
}

/** Writes `<repo>/<name>/<version>/model.onnx` and, when given, `config.pbtxt`. */
export async function writeModel(
  repo: string,
  name: string,
  model: Uint8Array,
  options: { version?: number; pbtxt?: string; json?: unknown } = {},
): Promise<string> {
  const dir = join(repo, name, String(options.version ?? 1));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), model);
  if (options.pbtxt !== undefined) await writeFile(join(repo, name, 'config.pbtxt'), options.pbtxt);
  if (options.json !== undefined)
    await writeFile(join(repo, name, 'config.json'), JSON.stringify(options.json));
  return dir;
}

/** One FP32 input, one output: `OUTPUT = INPUT` (Identity), shape `[batch, n]`. */
export function identityModel(
  elemType: number = OnnxType.FLOAT,
  dims: readonly Dim[] = ['batch', 'n'],
): Uint8Array {
  return buildModel({
    name: 'identity',
    nodes: [{ opType: 'Identity', input: ['INPUT'], output: ['OUTPUT'] }],
    inputs: [['INPUT', elemType, dims]],
    outputs: [['OUTPUT', elemType, dims]],
  });
}
