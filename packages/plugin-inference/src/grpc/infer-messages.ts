import { InferenceError } from '../errors/inference-error.js';
import {
  FIXED32,
  FIXED64,
  LENGTH_DELIMITED,
  VARINT,
  WireReader,
  WireWriter,
  delimitedSize,
  varintSize,
} from './protobuf-wire.js';

// Static codecs of the two hot messages, `ModelInferRequest` and `ModelInferResponse`, given to grpc-js
// as the method's (de)serializers: no proto-loader object conversion, tensor bytes as views of the
// received message, a reply written into one buffer. Field numbers are those of Triton's
// grpc_service.proto (checked byte for byte in the tests against protobufjs and hand-written bytes).

/** An `InferParameter` (its oneof: the one field set). */
export interface WireParameter {
  bool_param?: boolean;
  int64_param?: bigint;
  string_param?: string;
  double_param?: number;
  uint64_param?: bigint;
}

/** `InferTensorContents`: only the lists the message carries. */
export interface WireContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: bigint[];
  uint_contents?: number[];
  uint64_contents?: bigint[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Buffer[];
}

/** A tensor's description (`InferInputTensor`, `InferOutputTensor`). */
interface WireTensor {
  name: string;
  datatype: string;
  /** int64 dimensions; exact up to 2^53, beyond that approximate (and refused by the server). */
  shape: number[];
  parameters: Record<string, WireParameter>;
  contents?: WireContents;
}

/** `ModelInferRequest`; `raw_input_contents` are views of the received message. */
export interface WireInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, WireParameter>;
  inputs: WireTensor[];
  outputs: { name: string; parameters: Record<string, WireParameter> }[];
  raw_input_contents: Buffer[];
}

/** `ModelInferResponse`; `raw_output_contents` are views of the received message. */
export interface WireInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, WireParameter>;
  outputs: WireTensor[];
  raw_output_contents: Buffer[];
}

/** A request the deserializer could not read: handed to the handler, which answers INVALID_ARGUMENT. */
export interface MalformedMessage {
  malformed: InferenceError;
}

function readParameter(r: WireReader, into: WireParameter): void {
  for (let tag = r.tag(); tag !== 0; tag = r.tag()) {
    switch (tag) {
      case (1 << 3) | VARINT:
        into.bool_param = r.bool();
        break;
      case (2 << 3) | VARINT:
        into.int64_param = r.int64();
        break;
      case (3 << 3) | LENGTH_DELIMITED:
        into.string_param = r.string('string_param');
        break;
      case (4 << 3) | FIXED64:
        into.double_param = r.double();
        break;
      case (5 << 3) | VARINT:
        into.uint64_param = r.uint64();
        break;
      default:
        r.skip(tag);
    }
  }
}

/** A `map<string, InferParameter>` entry (key 1, value 2); later entries replace earlier ones. */
function readParameterEntry(r: WireReader, map: Record<string, WireParameter>): void {
  const outer = r.enter('parameters');
  let key = '';
  const value: WireParameter = {};
  for (let tag = r.tag(); tag !== 0; tag = r.tag()) {
    if (tag === ((1 << 3) | LENGTH_DELIMITED)) key = r.string('parameters.key');
    else if (tag === ((2 << 3) | LENGTH_DELIMITED)) {
      const inner = r.enter('parameters.value');
      readParameter(r, value);
      r.leave(inner);
    } else r.skip(tag);
  }
  r.leave(outer);
  map[key] = value;
}

function readContents(r: WireReader, into: WireContents): void {
  for (let tag = r.tag(); tag !== 0; tag = r.tag()) {
    switch (tag >>> 3) {
      case 1:
        r.repeated(tag, VARINT, (into.bool_contents ??= []), () => r.bool(), 'bool_contents');
        break;
      case 2:
        r.repeated(tag, VARINT, (into.int_contents ??= []), () => r.int32(), 'int_contents');
        break;
      case 3:
        r.repeated(tag, VARINT, (into.int64_contents ??= []), () => r.int64(), 'int64_contents');
        break;
      case 4:
        r.repeated(tag, VARINT, (into.uint_contents ??= []), () => r.uint32(), 'uint_contents');
        break;
      case 5:
        r.repeated(tag, VARINT, (into.uint64_contents ??= []), () => r.uint64(), 'uint64_contents');
        break;
      case 6:
        r.repeated(tag, FIXED32, (into.fp32_contents ??= []), () => r.float(), 'fp32_contents');
        break;
      case 7:
        r.repeated(tag, FIXED64, (into.fp64_contents ??= []), () => r.double(), 'fp64_contents');
        break;
      case 8:
        r.expect(tag, LENGTH_DELIMITED, 'bytes_contents');
        (into.bytes_contents ??= []).push(r.bytes('bytes_contents'));
        break;
      default:
        r.skip(tag);
    }
  }
}

/** `InferInputTensor` / `InferOutputTensor` (the same field numbers: name 1, datatype 2, shape 3, parameters 4, contents 5). */
function readTensor(r: WireReader, field: string): WireTensor {
  const outer = r.enter(field);
  const tensor: WireTensor = { name: '', datatype: '', shape: [], parameters: {} };
  for (let tag = r.tag(); tag !== 0; tag = r.tag()) {
    switch (tag >>> 3) {
      case 1:
        r.expect(tag, LENGTH_DELIMITED, `${field}.name`);
        tensor.name = r.string(`${field}.name`);
        break;
      case 2:
        r.expect(tag, LENGTH_DELIMITED, `${field}.datatype`);
        tensor.datatype = r.string(`${field}.datatype`);
        break;
      case 3:
        r.repeated(tag, VARINT, tensor.shape, () => r.int64Number(), `${field}.shape`);
        break;
      case 4:
        r.expect(tag, LENGTH_DELIMITED, `${field}.parameters`);
        readParameterEntry(r, tensor.parameters);
        break;
      case 5: {
        r.expect(tag, LENGTH_DELIMITED, `${field}.contents`);
        const inner = r.enter(`${field}.contents`);
        readContents(r, (tensor.contents ??= {}));
        r.leave(inner);
        break;
      }
      default:
        r.skip(tag);
    }
  }
  r.leave(outer);
  return tensor;
}

function readRequestedOutput(r: WireReader): WireInferRequest['outputs'][number] {
  const outer = r.enter('outputs');
  const output = { name: '', parameters: {} as Record<string, WireParameter> };
  for (let tag = r.tag(); tag !== 0; tag = r.tag()) {
    if (tag === ((1 << 3) | LENGTH_DELIMITED)) output.name = r.string('outputs.name');
    else if (tag === ((2 << 3) | LENGTH_DELIMITED)) readParameterEntry(r, output.parameters);
    else r.skip(tag);
  }
  r.leave(outer);
  return output;
}

/** Reads the string fields 1-3 and the parameters (4) every infer message starts with. */
function readCommon(r: WireReader, tag: number, into: WireInferRequest | WireInferResponse): boolean {
  switch (tag) {
    case (1 << 3) | LENGTH_DELIMITED:
      into.model_name = r.string('model_name');
      return true;
    case (2 << 3) | LENGTH_DELIMITED:
      into.model_version = r.string('model_version');
      return true;
    case (3 << 3) | LENGTH_DELIMITED:
      into.id = r.string('id');
      return true;
    case (4 << 3) | LENGTH_DELIMITED:
      readParameterEntry(r, into.parameters);
      return true;
    default:
      return false;
  }
}

/** Decodes a `ModelInferRequest`; throws `INFERENCE_INVALID_ARGUMENT` naming the problem. */
export function decodeInferRequest(buf: Buffer): WireInferRequest {
  const r = new WireReader(buf, 'ModelInferRequest');
  const message: WireInferRequest = {
    model_name: '',
    model_version: '',
    id: '',
    parameters: {},
    inputs: [],
    outputs: [],
    raw_input_contents: [],
  };
  for (let tag = r.tag(); tag !== 0; tag = r.tag()) {
    if (readCommon(r, tag, message)) continue;
    if (tag === ((5 << 3) | LENGTH_DELIMITED)) message.inputs.push(readTensor(r, 'inputs'));
    else if (tag === ((6 << 3) | LENGTH_DELIMITED)) message.outputs.push(readRequestedOutput(r));
    else if (tag === ((7 << 3) | LENGTH_DELIMITED))
      message.raw_input_contents.push(r.bytes('raw_input_contents'));
    else if (tag >>> 3 <= 7) r.fail(`field ${tag >>> 3} has wire type ${tag & 7}, expected 2`);
    else r.skip(tag);
  }
  return message;
}

/** The server's deserializer: a malformed message becomes a value the handler answers INVALID_ARGUMENT. */
export function deserializeInferRequest(buf: Buffer): WireInferRequest | MalformedMessage {
  try {
    return decodeInferRequest(buf);
  } catch (error) {
    if (error instanceof InferenceError) return { malformed: error };
    throw error;
  }
}

/** Decodes a `ModelInferResponse` (the client's side). */
export function decodeInferResponse(buf: Buffer): WireInferResponse {
  const r = new WireReader(buf, 'ModelInferResponse');
  const message: WireInferResponse = {
    model_name: '',
    model_version: '',
    id: '',
    parameters: {},
    outputs: [],
    raw_output_contents: [],
  };
  for (let tag = r.tag(); tag !== 0; tag = r.tag()) {
    if (readCommon(r, tag, message)) continue;
    if (tag === ((5 << 3) | LENGTH_DELIMITED)) message.outputs.push(readTensor(r, 'outputs'));
    else if (tag === ((6 << 3) | LENGTH_DELIMITED))
      message.raw_output_contents.push(r.bytes('raw_output_contents'));
    else if (tag >>> 3 <= 6) r.fail(`field ${tag >>> 3} has wire type ${tag & 7}, expected 2`);
    else r.skip(tag);
  }
  return message;
}

/** A tensor to encode: name, datatype, non-negative shape. */
interface TensorHeader {
  name: string;
  datatype: string;
  shape: readonly number[];
}

/** What the encoders write: the string fields, integer parameters, tensor headers and raw contents. */
export interface InferMessage {
  model_name: string;
  model_version: string;
  id: string;
  /** Integer parameters (`timeout`, `priority`), written as `int64_param`. */
  parameters?: Record<string, number>;
  tensors: readonly TensorHeader[];
  /** Requested outputs (requests only). */
  outputs?: readonly string[];
  raw: readonly Uint8Array[];
}

const utf8Length = (text: string): number => Buffer.byteLength(text, 'utf8');

function checkShape(shape: readonly number[]): void {
  for (const dim of shape)
    if (!Number.isSafeInteger(dim) || dim < 0) throw new RangeError(`shape [${shape.join(', ')}] is invalid`);
}

/**
 * Encodes an infer message into one buffer: tensors in field 5, raw contents in `rawField` (7 for a
 * request, 6 for a response), requested outputs in field 6 (requests only).
 */
function encodeInfer(message: InferMessage, rawField: number, outputs: readonly string[]): Buffer {
  const nameLength = utf8Length(message.model_name);
  const versionLength = utf8Length(message.model_version);
  const idLength = utf8Length(message.id);
  let size = 0;
  if (nameLength > 0) size += delimitedSize(1, nameLength);
  if (versionLength > 0) size += delimitedSize(2, versionLength);
  if (idLength > 0) size += delimitedSize(3, idLength);
  const params = Object.entries(message.parameters ?? {});
  const paramSizes = params.map(([key, value]) => {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`parameter ${key} = ${value}`);
    const keyLength = utf8Length(key);
    const inner = 1 + varintSize(value); // int64_param (2)
    const entry = delimitedSize(1, keyLength) + delimitedSize(2, inner);
    size += delimitedSize(4, entry);
    return { keyLength, inner, entry };
  });
  const tensorSizes = message.tensors.map((tensor) => {
    checkShape(tensor.shape);
    const nameBytes = utf8Length(tensor.name);
    const typeBytes = utf8Length(tensor.datatype);
    let shapeBytes = 0;
    for (const dim of tensor.shape) shapeBytes += varintSize(dim);
    const total =
      delimitedSize(1, nameBytes) +
      delimitedSize(2, typeBytes) +
      (shapeBytes > 0 ? delimitedSize(3, shapeBytes) : 0);
    size += delimitedSize(5, total);
    return { nameBytes, typeBytes, shapeBytes, total };
  });
  const outputSizes = outputs.map((name) => {
    const nameBytes = utf8Length(name);
    size += delimitedSize(6, delimitedSize(1, nameBytes));
    return nameBytes;
  });
  for (const raw of message.raw) size += delimitedSize(rawField, raw.byteLength);

  const w = new WireWriter(size);
  if (nameLength > 0) w.string(1, message.model_name, nameLength);
  if (versionLength > 0) w.string(2, message.model_version, versionLength);
  if (idLength > 0) w.string(3, message.id, idLength);
  params.forEach(([key, value], index) => {
    const { keyLength, inner, entry } = paramSizes[index]!;
    w.header(4, entry);
    w.string(1, key, keyLength);
    w.header(2, inner);
    w.varintField(2, value);
  });
  message.tensors.forEach((tensor, index) => {
    const sizes = tensorSizes[index]!;
    w.header(5, sizes.total);
    w.string(1, tensor.name, sizes.nameBytes);
    w.string(2, tensor.datatype, sizes.typeBytes);
    if (sizes.shapeBytes > 0) {
      w.header(3, sizes.shapeBytes);
      for (const dim of tensor.shape) w.varint(dim);
    }
  });
  outputs.forEach((name, index) => {
    w.header(6, delimitedSize(1, outputSizes[index]!));
    w.string(1, name, outputSizes[index]!);
  });
  for (const raw of message.raw) w.bytes(rawField, raw);
  if (w.pos !== size) throw new Error(`internal: infer message encoded ${w.pos} of ${size} bytes`);
  return w.buf;
}

/** Encodes a `ModelInferRequest` with `raw_input_contents` (the client's side). */
export function encodeInferRequest(message: InferMessage): Buffer {
  return encodeInfer(message, 7, message.outputs ?? []);
}

/** Encodes a `ModelInferResponse` with `raw_output_contents` (the server's side). */
export function encodeInferResponse(message: InferMessage): Buffer {
  return encodeInfer(message, 6, []);
}
