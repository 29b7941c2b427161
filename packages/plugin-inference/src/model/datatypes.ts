/** Tensor element types of the Open Inference Protocol (KServe V2), as on the wire. */
export type Datatype =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP16'
  | 'BF16'
  | 'FP32'
  | 'FP64'
  | 'BYTES';

/** The typed arrays tensor data lives in (BYTES: an array of strings, onnxruntime's string tensors). */
export type TensorData =
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Float32Array
  | Float64Array
  | string[];

/** A tensor in the server: element type, shape (row-major) and flat data. */
export interface Tensor {
  datatype: Datatype;
  shape: number[];
  data: TensorData;
}

type TypedArrayConstructor =
  | Uint8ArrayConstructor
  | Uint16ArrayConstructor
  | Uint32ArrayConstructor
  | BigUint64ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Int32ArrayConstructor
  | BigInt64ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;

interface DatatypeFacts {
  /** Bytes per element in the binary format; 0 for BYTES (length-prefixed). */
  size: number;
  /** onnxruntime's tensor type name, or undefined where onnxruntime has none (BF16). */
  ort: string | undefined;
  /** Triton's `data_type` in model configurations. */
  triton: string;
  array: TypedArrayConstructor | undefined;
  /** Kind of JSON element: number, bigint-backed integer, boolean, string, or not allowed in JSON. */
  json: 'number' | 'int' | 'int64' | 'bool' | 'string' | 'none';
  min?: number;
  max?: number;
}

/** One table for every fact about a datatype (reference §1.2). */
export const DATATYPES: Readonly<Record<Datatype, DatatypeFacts>> = {
  BOOL: { size: 1, ort: 'bool', triton: 'TYPE_BOOL', array: Uint8Array, json: 'bool' },
  UINT8: { size: 1, ort: 'uint8', triton: 'TYPE_UINT8', array: Uint8Array, json: 'int', min: 0, max: 0xff },
  UINT16: {
    size: 2,
    ort: 'uint16',
    triton: 'TYPE_UINT16',
    array: Uint16Array,
    json: 'int',
    min: 0,
    max: 0xffff,
  },
  UINT32: {
    size: 4,
    ort: 'uint32',
    triton: 'TYPE_UINT32',
    array: Uint32Array,
    json: 'int',
    min: 0,
    max: 0xffffffff,
  },
  UINT64: { size: 8, ort: 'uint64', triton: 'TYPE_UINT64', array: BigUint64Array, json: 'int64', min: 0 },
  INT8: { size: 1, ort: 'int8', triton: 'TYPE_INT8', array: Int8Array, json: 'int', min: -0x80, max: 0x7f },
  INT16: {
    size: 2,
    ort: 'int16',
    triton: 'TYPE_INT16',
    array: Int16Array,
    json: 'int',
    min: -0x8000,
    max: 0x7fff,
  },
  INT32: {
    size: 4,
    ort: 'int32',
    triton: 'TYPE_INT32',
    array: Int32Array,
    json: 'int',
    min: -0x80000000,
    max: 0x7fffffff,
  },
  INT64: { size: 8, ort: 'int64', triton: 'TYPE_INT64', array: BigInt64Array, json: 'int64' },
  FP16: { size: 2, ort: 'float16', triton: 'TYPE_FP16', array: Uint16Array, json: 'none' },
  BF16: { size: 2, ort: undefined, triton: 'TYPE_BF16', array: Uint16Array, json: 'none' },
  FP32: { size: 4, ort: 'float32', triton: 'TYPE_FP32', array: Float32Array, json: 'number' },
  FP64: { size: 8, ort: 'float64', triton: 'TYPE_FP64', array: Float64Array, json: 'number' },
  BYTES: { size: 0, ort: 'string', triton: 'TYPE_STRING', array: undefined, json: 'string' },
};

const BY_ORT = new Map<string, Datatype>(
  Object.entries(DATATYPES).flatMap(([name, facts]) => (facts.ort ? [[facts.ort, name as Datatype]] : [])),
);
const BY_TRITON = new Map<string, Datatype>(
  Object.entries(DATATYPES).map(([name, facts]) => [facts.triton, name as Datatype]),
);

/** True for a V2 datatype name (case-sensitive, as the protocol requires). */
export function isDatatype(value: unknown): value is Datatype {
  return typeof value === 'string' && Object.hasOwn(DATATYPES, value);
}

/** The V2 datatype of an onnxruntime tensor type (`float32` → FP32), or undefined (int4, …). */
export function datatypeOfOrt(type: string): Datatype | undefined {
  return BY_ORT.get(type);
}

/** The V2 datatype of a Triton config `data_type` (`TYPE_FP32` → FP32), or undefined. */
export function datatypeOfTriton(type: string): Datatype | undefined {
  return BY_TRITON.get(type);
}

/** Number of elements of a shape (1 for a scalar). */
export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) count *= dim;
  return count;
}

/** An empty (zeroed) data container of a datatype. */
export function allocate(datatype: Datatype, count: number): TensorData {
  const Array_ = DATATYPES[datatype].array;
  return Array_ ? new Array_(count) : new Array<string>(count).fill('');
}

/** Formats a shape for messages: `[2, 16]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
