import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

const FLOAT = 1;
const INT64 = 7;

/** Deterministic weights (a linear congruential generator), so clients can recompute the outputs. */
function tracccWeights(rows: number, columns: number, seed: number): Float32Array {
  const out = new Float32Array(rows * columns);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i += 1) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = (state / 2 ** 32 - 0.5) * 0.01;
  }
  return out;
}

/** The weights of TRK_PARAMS (6 × 8) and COVARIANCES (6 × 25). */
export const TRK_WEIGHTS = tracccWeights(6, 8, 8);
export const COV_WEIGHTS = tracccWeights(6, 25, 25);

const tensor = (name: string, elemType: number, dims: (number | string)[]) => ({
  name,
  type: {
    tensorType: {
      elemType,
      shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
    },
  },
});

const int64s = (name: string, values: bigint[]) => ({
  name,
  dims: [values.length],
  dataType: INT64,
  rawData: new Uint8Array(new BigInt64Array(values).buffer),
});

/**
 * A model with traccc-aaS's interface (`traccc-gpu`): inputs `CELL_POSITIONS` INT64 `[N, 4]` (geometry
 * id, measurement id, channel 0, channel 1) and `CELL_PROPERTIES` FP32 `[N, 2]` (timestamp, value);
 * outputs `MEASUREMENTS` FP32 `[N, 6]` (the cell as floats), `GEOMETRY_IDS` INT64 `[N, 1]` (exact),
 * `TRK_PARAMS` FP32 `[N, 8]` and `COVARIANCES` FP32 `[N, 25]` (fixed linear maps of the measurements).
 * It is not a reconstruction: it stands in for traccc so the service, clients and deployment can be
 * exercised end to end with checkable answers.
 */
export function tracccModel(): Uint8Array {
  const model = onnx.ModelProto.fromObject({
    irVersion: 7,
    producerName: 'beamline-traccc-aas-example',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'traccc-gpu',
      node: [
        {
          opType: 'Cast',
          input: ['CELL_POSITIONS'],
          output: ['POSITIONS_F'],
          attribute: [{ name: 'to', type: 2, i: FLOAT }],
        },
        {
          opType: 'Concat',
          input: ['POSITIONS_F', 'CELL_PROPERTIES'],
          output: ['MEASUREMENTS'],
          attribute: [{ name: 'axis', type: 2, i: 1 }],
        },
        { opType: 'MatMul', input: ['MEASUREMENTS', 'W_TRK'], output: ['TRK_PARAMS'] },
        { opType: 'MatMul', input: ['MEASUREMENTS', 'W_COV'], output: ['COVARIANCES'] },
        {
          opType: 'Slice',
          input: ['CELL_POSITIONS', 'S_START', 'S_END', 'S_AXES'],
          output: ['GEOMETRY_IDS'],
        },
      ],
      input: [tensor('CELL_POSITIONS', INT64, ['cells', 4]), tensor('CELL_PROPERTIES', FLOAT, ['cells', 2])],
      output: [
        tensor('TRK_PARAMS', FLOAT, ['cells', 8]),
        tensor('MEASUREMENTS', FLOAT, ['cells', 6]),
        tensor('COVARIANCES', FLOAT, ['cells', 25]),
        tensor('GEOMETRY_IDS', INT64, ['cells', 1]),
      ],
      initializer: [
        { name: 'W_TRK', dims: [6, 8], dataType: FLOAT, rawData: new Uint8Array(TRK_WEIGHTS.buffer) },
        { name: 'W_COV', dims: [6, 25], dataType: FLOAT, rawData: new Uint8Array(COV_WEIGHTS.buffer) },
        int64s('S_START', [0n]),
        int64s('S_END', [1n]),
        int64s('S_AXES', [1n]),
      ],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** traccc-aaS's `config.pbtxt` for `traccc-gpu`, with the ONNX Runtime backend instead of traccc's own. */
export const TRACCC_CONFIG = `name: "traccc-gpu"
backend: "onnxruntime"
max_batch_size: 0
input [
  { name: "CELL_POSITIONS", data_type: TYPE_INT64, dims: [ -1, 4 ] },
  { name: "CELL_PROPERTIES", data_type: TYPE_FP32, dims: [ -1, 2 ] }
]
output [
  { name: "TRK_PARAMS", data_type: TYPE_FP32, dims: [ -1, 8 ] },
  { name: "MEASUREMENTS", data_type: TYPE_FP32, dims: [ -1, 6 ] },
  { name: "COVARIANCES", data_type: TYPE_FP32, dims: [ -1, 25 ] },
  { name: "GEOMETRY_IDS", data_type: TYPE_INT64, dims: [ -1, 1 ] }
]
instance_group [ { count: 1, kind: KIND_GPU, gpus: [ 0 ] } ]
parameters { key: "EXECUTION_MODEL_PATH" value: { string_value: "/traccc/odd" } }
`;
