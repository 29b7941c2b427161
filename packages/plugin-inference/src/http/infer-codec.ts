import { invalid } from '../errors/inference-error.js';
import { elementCount, isDatatype, type Datatype } from '../model/datatypes.js';
import { tensorDatatype, type ModelConfig } from '../model/model-config.js';
import type { InferenceRequest, InferenceResult, NamedTensor } from '../runtime/model-version.js';
import { binarySize, decodeBinaryData, encodeBinaryData } from './binary-tensor.js';
import { decodeJsonData, encodeJsonData } from './tensor-json.js';

/** A decoded `…/infer` request: what to run and how to answer. */
export interface DecodedInfer {
  id: string | undefined;
  request: InferenceRequest;
  /** Per requested output: whether it goes binary. */
  binary: Map<string, boolean>;
  /** `binary_data_output`, the default for outputs not listed. */
  binaryDefault: boolean;
  /** Echoed request-level parameters are not part of the answer; response parameters are. */
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function parameters(value: unknown, where: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isObject(value)) throw invalid(`${where}: "parameters" must be an object`);
  return value;
}

function integerParameter(params: Record<string, unknown>, key: string, where: string): number | undefined {
  const value = params[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(
      `${where}: parameter "${key}" must be a non-negative integer, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function booleanParameter(params: Record<string, unknown>, key: string, where: string): boolean | undefined {
  const value = params[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean')
    throw invalid(`${where}: parameter "${key}" must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

/**
 * Parses `Inference-Header-Content-Length`: undefined when absent (the body is all JSON). Non-numeric,
 * negative or larger than the body is a 400.
 */
export function headerLength(value: string | undefined, bodyLength: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value.trim()))
    throw invalid(
      `Inference-Header-Content-Length must be a non-negative integer, got "${value.slice(0, 40)}"`,
    );
  const length = Number(value.trim());
  if (length > bodyLength)
    throw invalid(`Inference-Header-Content-Length ${length} is larger than the body (${bodyLength} bytes)`);
  return length;
}

/**
 * Decodes an `…/infer` body (JSON, JSON followed by binary tensors, or a raw single-input body). With
 * `ownedBody` (a buffer of the caller's own, which the request may move to the session's worker), aligned
 * binary inputs are views of the body instead of copies.
 */
export function decodeInfer(
  body: Buffer,
  jsonLength: number | undefined,
  config: ModelConfig,
  ownedBody = false,
): DecodedInfer {
  if (jsonLength === 0) return decodeRaw(body, config);
  const jsonPart = jsonLength === undefined ? body : body.subarray(0, jsonLength);
  let json: unknown;
  try {
    json = JSON.parse(jsonPart.toString('utf8'));
  } catch (error) {
    throw invalid(`failed to parse the request JSON: ${(error as Error).message}`);
  }
  if (!isObject(json)) throw invalid('the request body must be a JSON object with "inputs"');
  const id = json.id;
  if (id !== undefined && typeof id !== 'string')
    throw invalid(`"id" must be a string, got ${JSON.stringify(id)}`);
  const params = parameters(json.parameters, 'request');
  const priority = integerParameter(params, 'priority', 'request');
  const timeoutUs = integerParameter(params, 'timeout', 'request');
  const binaryDefault = booleanParameter(params, 'binary_data_output', 'request') ?? false;
  if (!Array.isArray(json.inputs)) throw invalid('"inputs" must be a list of tensors');
  let offset = jsonLength ?? body.length;
  const inputs: NamedTensor[] = [];
  const rawInputs = json.inputs as unknown[];
  for (let index = 0; index < rawInputs.length; index += 1) {
    const raw = rawInputs[index];
    if (!isObject(raw))
      throw invalid(`inputs[${index}] must be an object with name, shape, datatype and data`);
    const name = raw.name;
    if (typeof name !== 'string' || name === '')
      throw invalid(`inputs[${index}].name must be a non-empty string`);
    const where = `input '${name}'`;
    const datatype = raw.datatype;
    if (!isDatatype(datatype))
      throw invalid(
        `${where}: datatype ${JSON.stringify(datatype)} is not a V2 datatype (BOOL, UINT8…UINT64, INT8…INT64, FP16, BF16, FP32, FP64, BYTES)`,
      );
    const shape = raw.shape;
    if (
      !Array.isArray(shape) ||
      !shape.every((dim) => typeof dim === 'number' && Number.isSafeInteger(dim) && dim >= 0)
    ) {
      throw invalid(
        `${where}: shape must be a list of non-negative integers, got ${JSON.stringify(shape)?.slice(0, 60)}`,
      );
    }
    const dims = shape as number[];
    const inputParams = parameters(raw.parameters, where);
    const size = integerParameter(inputParams, 'binary_data_size', where);
    if (size !== undefined) {
      if (raw.data !== undefined) throw invalid(`${where}: has both "data" and parameters.binary_data_size`);
      if (jsonLength === undefined)
        throw invalid(
          `${where}: binary_data_size given but the request has no Inference-Header-Content-Length header`,
        );
      if (offset + size > body.length) {
        throw invalid(
          `${where}: binary_data_size ${size} overruns the body (${body.length - offset} bytes left after the JSON and earlier inputs)`,
        );
      }
      const fixed = binarySize(datatype, dims);
      if (fixed !== undefined && fixed !== size) {
        throw invalid(
          `${where}: unexpected binary_data_size ${size}, shape [${dims.join(', ')}] of ${datatype} needs ${fixed} bytes`,
        );
      }
      inputs.push({
        name,
        datatype,
        shape: dims,
        data: decodeBinaryData(name, datatype, dims, body.subarray(offset, offset + size), ownedBody),
      });
      offset += size;
      continue;
    }
    if (raw.data === undefined) throw invalid(`${where}: has neither "data" nor parameters.binary_data_size`);
    inputs.push({ name, datatype, shape: dims, data: decodeJsonData(name, datatype, dims, raw.data) });
  }
  if (offset !== body.length)
    throw invalid(`the body has ${body.length - offset} bytes after the last binary input`);
  const binary = new Map<string, boolean>();
  let outputs: string[] | undefined;
  if (json.outputs !== undefined) {
    if (!Array.isArray(json.outputs)) throw invalid('"outputs" must be a list');
    outputs = json.outputs.map((raw: unknown, index) => {
      if (!isObject(raw) || typeof raw.name !== 'string')
        throw invalid(`outputs[${index}] must be an object with a "name"`);
      const outputParams = parameters(raw.parameters, `output '${raw.name}'`);
      binary.set(
        raw.name,
        booleanParameter(outputParams, 'binary_data', `output '${raw.name}'`) ?? binaryDefault,
      );
      return raw.name;
    });
  }
  return { id, request: { inputs, outputs, priority, timeoutUs, ownsInputs: true }, binary, binaryDefault };
}

function decodeRaw(body: Buffer, config: ModelConfig): DecodedInfer {
  if (config.input.length !== 1) {
    throw invalid(
      `raw binary request (Inference-Header-Content-Length: 0) needs a model with one input; model '${config.name}' has ${config.input.length}`,
    );
  }
  const input = config.input[0]!;
  const datatype: Datatype = tensorDatatype(input);
  let dims = [...input.dims];
  if (datatype === 'BYTES') dims = dims.map(() => 1);
  const variable = dims.filter((dim) => dim === -1).length;
  if (variable > 1)
    throw invalid(
      `raw binary request: input '${input.name}' has ${variable} variable dimensions; at most one can be inferred from the body size`,
    );
  if (variable === 1) {
    const fixed = elementCount(dims.filter((dim) => dim !== -1)) * (binarySize(datatype, [1]) ?? 1);
    if (fixed === 0 || body.length % fixed !== 0)
      throw invalid(
        `raw binary request: ${body.length} bytes is not a whole number of elements of input '${input.name}'`,
      );
    dims = dims.map((dim) => (dim === -1 ? body.length / fixed : dim));
  }
  const shape = config.max_batch_size > 0 ? [1, ...dims] : dims;
  const data =
    datatype === 'BYTES'
      ? [decodeUtf8(body, input.name)]
      : decodeBinaryData(input.name, datatype, shape, body);
  return {
    id: undefined,
    request: { inputs: [{ name: input.name, datatype, shape, data }], outputs: undefined, ownsInputs: true },
    binary: new Map(),
    binaryDefault: true,
  };
}

function decodeUtf8(body: Buffer, name: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw invalid(`raw binary request: the body of BYTES input '${name}' is not valid UTF-8`);
  }
}

/** An encoded response: the JSON head, binary blobs after it (maybe none). */
export interface EncodedInfer {
  json: string;
  blobs: Uint8Array[];
}

/** Encodes an inference response: JSON, with outputs asked for as binary after it. */
export function encodeInfer(
  model: { name: string; version: number },
  id: string | undefined,
  result: InferenceResult,
  decoded: Pick<DecodedInfer, 'binary' | 'binaryDefault'>,
): EncodedInfer {
  const blobs: Uint8Array[] = [];
  const outputs = result.outputs.map((output) => {
    const head = `{"name":${JSON.stringify(output.name)},"datatype":"${output.datatype}","shape":[${output.shape.join(',')}]`;
    if (decoded.binary.get(output.name) ?? decoded.binaryDefault) {
      const bytes = encodeBinaryData(output.datatype, output.data);
      blobs.push(bytes);
      return `${head},"parameters":{"binary_data_size":${bytes.length}}}`;
    }
    return `${head},"data":${encodeJsonData(output.datatype, output.data)}}`;
  });
  const idPart = id === undefined ? '' : `,"id":${JSON.stringify(id)}`;
  return {
    json: `{"model_name":${JSON.stringify(model.name)},"model_version":"${model.version}"${idPart},"outputs":[${outputs.join(',')}]}`,
    blobs,
  };
}
