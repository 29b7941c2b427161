import { invalid } from '../errors/inference-error.js';
import { DATATYPES, elementCount, type Datatype, type TensorData } from '../model/datatypes.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes a fixed-size tensor of this shape takes in the binary format; undefined for BYTES. */
export function binarySize(datatype: Datatype, shape: readonly number[]): number | undefined {
  const size = DATATYPES[datatype].size;
  return size === 0 ? undefined : size * elementCount(shape);
}

/**
 * Reads a tensor's binary data (little-endian, row-major; BYTES as uint32 length + bytes per element)
 * from `bytes`. The result owns its memory (aligned copy), unless `view` is set and the bytes are
 * aligned for the type: then it is a view of `bytes` (for buffers the caller owns and may move).
 */
export function decodeBinaryData(
  name: string,
  datatype: Datatype,
  shape: readonly number[],
  bytes: Uint8Array,
  view = false,
): TensorData {
  const count = elementCount(shape);
  if (datatype === 'BYTES') {
    const out = new Array<string>(count);
    let offset = 0;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i += 1) {
      if (offset + 4 > bytes.length)
        throw invalid(
          `input '${name}': binary BYTES data ends in element ${i} of ${count} (no length prefix)`,
        );
      const length = view.getUint32(offset, true);
      offset += 4;
      if (offset + length > bytes.length) {
        throw invalid(
          `input '${name}': binary BYTES element ${i} says ${length} bytes but only ${bytes.length - offset} remain`,
        );
      }
      const element = bytes.subarray(offset, offset + length);
      if (element.includes(0))
        throw invalid(
          `input '${name}': BYTES element ${i} holds a NUL byte, which onnxruntime string tensors cannot carry`,
        );
      try {
        out[i] = utf8.decode(element);
      } catch {
        throw invalid(
          `input '${name}': BYTES element ${i} is not valid UTF-8 (onnxruntime string tensors hold text)`,
        );
      }
      offset += length;
    }
    if (offset !== bytes.length) {
      throw invalid(
        `input '${name}': binary_data_size is ${bytes.length} but ${count} BYTES elements take ${offset} bytes`,
      );
    }
    return out;
  }
  const facts = DATATYPES[datatype];
  const expected = facts.size * count;
  if (bytes.length !== expected) {
    throw invalid(
      `input '${name}': unexpected binary_data_size ${bytes.length}, shape [${shape.join(', ')}] of ${datatype} needs ${expected} bytes`,
    );
  }
  if (view && bytes.buffer instanceof ArrayBuffer && bytes.byteOffset % facts.size === 0)
    return new facts.array!(bytes.buffer, bytes.byteOffset, count);
  const copy = new Uint8Array(expected);
  copy.set(bytes);
  return new facts.array!(copy.buffer);
}

/** A tensor's data in the binary format (a view where the data already is little-endian bytes). */
export function encodeBinaryData(datatype: Datatype, data: TensorData): Uint8Array {
  if (datatype === 'BYTES') {
    const encoded = (data as string[]).map((text) => Buffer.from(text, 'utf8'));
    const total = encoded.reduce((sum, item) => sum + 4 + item.length, 0);
    const out = Buffer.allocUnsafe(total);
    let offset = 0;
    for (const item of encoded) {
      out.writeUInt32LE(item.length, offset);
      item.copy(out, offset + 4);
      offset += 4 + item.length;
    }
    return out;
  }
  const view = data as Uint8Array;
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}
