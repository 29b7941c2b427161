/**
 * The few protobuf wire-format pieces the TensorBoard `Event` and `Summary` messages need: varints
 * (int64 two's complement for negative steps), doubles, floats, strings and nested messages.
 */

const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  Fixed32 = 5,
}

function varint(value: bigint): number[] {
  let v = BigInt.asUintN(64, value);
  const bytes: number[] = [];
  while (v >= 0x80n) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  return bytes;
}

function key(field: number, wire: WireType): number[] {
  return varint(BigInt((field << 3) | wire));
}

/** Appends protobuf fields to a growing byte list. */
export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];

  int64(field: number, value: number): this {
    this.parts.push(Uint8Array.from([...key(field, WireType.Varint), ...varint(BigInt(value))]));
    return this;
  }

  double(field: number, value: number): this {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleLE(value);
    this.parts.push(Uint8Array.from(key(field, WireType.Fixed64)), b);
    return this;
  }

  float(field: number, value: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeFloatLE(value);
    this.parts.push(Uint8Array.from(key(field, WireType.Fixed32)), b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.parts.push(
      Uint8Array.from([...key(field, WireType.LengthDelimited), ...varint(BigInt(value.length))]),
      value,
    );
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** One decoded field: its number and its value (a bigint for varints, raw bytes otherwise). */
export interface ProtoField {
  field: number;
  wire: number;
  varint?: bigint;
  bytes?: Buffer;
}

/** Decodes one message's top-level fields; throws on malformed input (the caller names the file). */
export function readFields(buf: Buffer): ProtoField[] {
  const fields: ProtoField[] = [];
  let pos = 0;
  const readVarint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error('varint runs past the end of the message');
      const b = buf[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error('varint longer than 10 bytes');
    }
  };
  const take = (n: number): Buffer => {
    if (n > buf.length - pos) throw new Error('field runs past the end of the message');
    const out = buf.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  while (pos < buf.length) {
    const k = readVarint();
    const field = Number(k >> 3n);
    const wire = Number(k & 7n);
    switch (wire) {
      case 0:
        fields.push({ field, wire, varint: readVarint() });
        break;
      case 1:
        fields.push({ field, wire, bytes: take(8) });
        break;
      case 2:
        fields.push({ field, wire, bytes: take(Number(readVarint())) });
        break;
      case 5:
        fields.push({ field, wire, bytes: take(4) });
        break;
      default:
        throw new Error(`unsupported wire type ${wire} for field ${field}`);
    }
  }
  return fields;
}
