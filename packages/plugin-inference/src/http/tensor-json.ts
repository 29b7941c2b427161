import { invalid } from '../errors/inference-error.js';
import { DATATYPES, allocate, elementCount, type Datatype, type TensorData } from '../model/datatypes.js';

/** Flattens nested JSON `data` (row-major); a flat list passes through. */
function flatten(data: unknown[], name: string, maxDepth: number): unknown[] {
  if (!data.some(Array.isArray)) return data;
  const out: unknown[] = [];
  const walk = (items: unknown[], depth: number): void => {
    if (depth > maxDepth) throw invalid(`input '${name}': data is nested deeper than its shape`);
    for (const item of items) {
      if (Array.isArray(item)) walk(item, depth + 1);
      else out.push(item);
    }
  };
  walk(data, 1);
  return out;
}

/**
 * Decodes a JSON `data` list of a tensor (nested or flat) into its typed array, checking the element
 * count against the shape and every element against the datatype. Errors name the input, the element
 * and what was expected.
 */
export function decodeJsonData(
  name: string,
  datatype: Datatype,
  shape: readonly number[],
  data: unknown,
): TensorData {
  const facts = DATATYPES[datatype];
  if (facts.json === 'none') {
    throw invalid(
      `input '${name}': receiving ${datatype} data via JSON is not supported. Please use the binary data format for input '${name}'`,
    );
  }
  if (!Array.isArray(data)) throw invalid(`input '${name}': "data" must be a list, got ${typeof data}`);
  const flat = flatten(data, name, Math.max(1, shape.length));
  const expected = elementCount(shape);
  if (flat.length !== expected) {
    throw invalid(
      `input '${name}': unexpected number of elements, shape [${shape.join(', ')}] needs ${expected}, got ${flat.length}`,
    );
  }
  const out = allocate(datatype, expected);
  const bad = (index: number, what: string): never => {
    const value = JSON.stringify(flat[index]) ?? String(flat[index]);
    throw invalid(
      `input '${name}': element ${index} is ${value.length > 40 ? `${value.slice(0, 40)}…` : value}, expected ${what} for ${datatype}`,
    );
  };
  switch (facts.json) {
    case 'bool': {
      const target = out as Uint8Array;
      for (let i = 0; i < expected; i += 1) {
        const value = flat[i];
        if (typeof value !== 'boolean') bad(i, 'true or false');
        target[i] = value ? 1 : 0;
      }
      return out;
    }
    case 'int': {
      const target = out as Int32Array;
      const min = facts.min!;
      const max = facts.max!;
      for (let i = 0; i < expected; i += 1) {
        const value = flat[i];
        if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
          bad(i, `an integer from ${min} to ${max}`);
        target[i] = value as number;
      }
      return out;
    }
    case 'int64': {
      const target = out as BigInt64Array | BigUint64Array;
      const unsigned = datatype === 'UINT64';
      for (let i = 0; i < expected; i += 1) {
        const value = flat[i];
        if (typeof value !== 'number' || !Number.isInteger(value) || (unsigned && value < 0))
          bad(i, unsigned ? 'a non-negative integer' : 'an integer');
        if (!Number.isSafeInteger(value))
          bad(
            i,
            `an integer within ±2^53 (JSON numbers beyond it are not exact; send ${datatype} values this large in the binary data format)`,
          );
        target[i] = BigInt(value as number);
      }
      return out;
    }
    case 'number': {
      const target = out as Float32Array;
      for (let i = 0; i < expected; i += 1) {
        const value = flat[i];
        if (typeof value !== 'number') bad(i, 'a number');
        target[i] = value as number;
      }
      return out;
    }
    case 'string': {
      const target = out as string[];
      for (let i = 0; i < expected; i += 1) {
        const value = flat[i];
        if (typeof value !== 'string') bad(i, 'a string');
        if ((value as string).includes('\u0000'))
          bad(i, 'a string without NUL characters (onnxruntime string tensors end at NUL)');
        target[i] = value as string;
      }
      return out;
    }
  }
}

/** A half-precision bit pattern as a number. */
function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/**
 * Writes a tensor's data as a JSON list, exactly: 64-bit integers as their decimal digits (no loss
 * beyond 2^53), non-finite floats as `null` (JSON has no NaN), FP16 as its value.
 */
export function encodeJsonData(datatype: Datatype, data: TensorData): string {
  switch (datatype) {
    case 'BOOL': {
      const parts = new Array<string>(data.length);
      for (let i = 0; i < data.length; i += 1) parts[i] = (data as Uint8Array)[i] ? 'true' : 'false';
      return `[${parts.join(',')}]`;
    }
    case 'BYTES':
      return JSON.stringify(data);
    case 'FP16':
    case 'BF16': {
      const parts = new Array<string>(data.length);
      for (let i = 0; i < data.length; i += 1) {
        const bits = (data as Uint16Array)[i]!;
        const value =
          datatype === 'FP16'
            ? halfToNumber(bits)
            : new Float32Array(new Uint32Array([bits << 16]).buffer)[0]!;
        parts[i] = Number.isFinite(value) ? String(value) : 'null';
      }
      return `[${parts.join(',')}]`;
    }
    case 'FP32':
    case 'FP64': {
      const values = data as Float32Array;
      let finite = true;
      for (let i = 0; i < values.length; i += 1) {
        if (!Number.isFinite(values[i]!)) {
          finite = false;
          break;
        }
      }
      if (finite) return `[${values.join(',')}]`;
      return `[${Array.from(values, (v) => (Number.isFinite(v) ? String(v) : 'null')).join(',')}]`;
    }
    case 'UINT8':
    case 'UINT16':
    case 'UINT32':
    case 'UINT64':
    case 'INT8':
    case 'INT16':
    case 'INT32':
    case 'INT64':
      // BigInt arrays join as their exact decimal digits.
      return `[${(data as Int32Array).join(',')}]`;
  }
}
