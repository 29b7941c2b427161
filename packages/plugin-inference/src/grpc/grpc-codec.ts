import { invalid } from '../errors/inference-error.js';
import { binarySize, decodeBinaryData, encodeBinaryData } from '../http/binary-tensor.js';
import { DATATYPES, elementCount, isDatatype, type Datatype, type TensorData } from '../model/datatypes.js';
import type { InferenceRequest, InferenceResult, NamedTensor } from '../runtime/model-version.js';
import type { InferMessage, WireContents, WireInferRequest, WireParameter } from './infer-messages.js';

function integerParameter(params: Record<string, WireParameter>, key: string): number | undefined {
  const param = params[key];
  if (!param) return undefined;
  const value = param.int64_param ?? param.uint64_param;
  if (value === undefined || value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    const shown = Object.entries(param).map(([field, v]) => `${field}: ${String(v)}`);
    throw invalid(`parameter "${key}" must be a non-negative int64_param, got { ${shown.join(', ')} }`);
  }
  return Number(value);
}

function shapeOf(name: string, shape: number[]): number[] {
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0)
      throw invalid(
        `input '${name}': shape must be a list of non-negative integers, got [${shape.join(', ')}]`,
      );
  }
  return shape;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function fromContents(name: string, datatype: Datatype, shape: number[], contents: WireContents): TensorData {
  const count = elementCount(shape);
  const pick = <T>(list: T[] | undefined, field: string): T[] => {
    const values = list ?? [];
    if (values.length !== count) {
      throw invalid(
        `input '${name}': ${field} has ${values.length} elements, shape [${shape.join(', ')}] needs ${count}`,
      );
    }
    return values;
  };
  const facts = DATATYPES[datatype];
  const range = (values: number[], field: string): TensorData => {
    const out = new facts.array!(count) as Int32Array;
    values.forEach((value, index) => {
      if (value < facts.min! || value > facts.max!)
        throw invalid(`input '${name}': ${field}[${index}] = ${value} is out of range for ${datatype}`);
      out[index] = value;
    });
    return out;
  };
  switch (datatype) {
    case 'BOOL':
      return Uint8Array.from(pick(contents.bool_contents, 'bool_contents'), (value) => (value ? 1 : 0));
    case 'INT8':
    case 'INT16':
    case 'INT32':
      return range(pick(contents.int_contents, 'int_contents'), 'int_contents');
    case 'UINT8':
    case 'UINT16':
    case 'UINT32':
      return range(pick(contents.uint_contents, 'uint_contents'), 'uint_contents');
    case 'INT64':
      return BigInt64Array.from(pick(contents.int64_contents, 'int64_contents'));
    case 'UINT64':
      return BigUint64Array.from(pick(contents.uint64_contents, 'uint64_contents'));
    case 'FP32':
      return Float32Array.from(pick(contents.fp32_contents, 'fp32_contents'));
    case 'FP64':
      return Float64Array.from(pick(contents.fp64_contents, 'fp64_contents'));
    case 'BYTES':
      return pick(contents.bytes_contents, 'bytes_contents').map((bytes, index) => {
        if (bytes.includes(0))
          throw invalid(
            `input '${name}': bytes_contents[${index}] holds a NUL byte, which onnxruntime string tensors cannot carry`,
          );
        try {
          return utf8.decode(bytes);
        } catch {
          throw invalid(`input '${name}': bytes_contents[${index}] is not valid UTF-8`);
        }
      });
    case 'FP16':
    case 'BF16':
      throw invalid(
        `input '${name}': ${datatype} data must be sent in raw_input_contents (protobuf has no 16-bit float type)`,
      );
  }
}

/** Decodes a `ModelInferRequest`: typed `contents` or `raw_input_contents` (one per input, in order). */
export function decodeGrpcInfer(message: WireInferRequest): { id: string; request: InferenceRequest } {
  const raw = message.raw_input_contents;
  if (raw.length > 0 && raw.length !== message.inputs.length) {
    throw invalid(
      `raw_input_contents has ${raw.length} entries but the request has ${message.inputs.length} inputs; give one per input, in order`,
    );
  }
  const inputs: NamedTensor[] = message.inputs.map((input, index) => {
    const name = input.name;
    if (!name) throw invalid(`inputs[${index}].name must be a non-empty string`);
    if (!isDatatype(input.datatype))
      throw invalid(`input '${name}': datatype "${input.datatype}" is not a V2 datatype`);
    const datatype = input.datatype;
    const shape = shapeOf(name, input.shape);
    const hasContents =
      input.contents !== undefined &&
      Object.values(input.contents).some((list) => Array.isArray(list) && list.length > 0);
    if (raw.length > 0) {
      if (hasContents)
        throw invalid(`input '${name}': has contents although the request uses raw_input_contents`);
      const bytes = raw[index]!;
      const size = binarySize(datatype, shape);
      if (size !== undefined && size !== bytes.length) {
        throw invalid(
          `input '${name}': raw_input_contents[${index}] has ${bytes.length} bytes, shape [${shape.join(', ')}] of ${datatype} needs ${size}`,
        );
      }
      return { name, datatype, shape, data: decodeBinaryData(name, datatype, shape, bytes) };
    }
    if (elementCount(shape) > 0 && !hasContents)
      throw invalid(`input '${name}': has neither contents nor raw_input_contents`);
    return { name, datatype, shape, data: fromContents(name, datatype, shape, input.contents ?? {}) };
  });
  const params = message.parameters;
  const outputs = message.outputs.length > 0 ? message.outputs.map((output) => output.name) : undefined;
  return {
    id: message.id,
    request: {
      inputs,
      outputs,
      priority: integerParameter(params, 'priority'),
      timeoutUs: integerParameter(params, 'timeout'),
      ownsInputs: true,
    },
  };
}

/** The `ModelInferResponse` of a result, with `raw_output_contents` as Triton answers. */
export function encodeGrpcInfer(
  model: { name: string; version: number },
  id: string,
  result: InferenceResult,
): InferMessage {
  return {
    model_name: model.name,
    model_version: String(model.version),
    id,
    tensors: result.outputs,
    raw: result.outputs.map((output) => encodeBinaryData(output.datatype, output.data)),
  };
}
