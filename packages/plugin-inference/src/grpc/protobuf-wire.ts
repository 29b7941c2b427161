import { invalid } from '../errors/inference-error.js';

/** Protobuf wire types (proto3; groups are skipped, never produced). */
export const VARINT = 0;
export const FIXED64 = 1;
export const LENGTH_DELIMITED = 2;
const START_GROUP = 3;
const END_GROUP = 4;
export const FIXED32 = 5;

const TWO_32 = 2 ** 32;

/**
 * A protobuf reader over one buffer, for hand-written message decoders on the hot path: no object per
 * field, `bytes` fields returned as views of the input. Every length and varint is checked against the
 * end of the enclosing message; a malformed message throws an `INFERENCE_INVALID_ARGUMENT` error naming
 * `what` (the message) and the field.
 */
export class WireReader {
  pos = 0;
  end: number;
  /** Low and high 32 bits of the last varint read by {@link varint}. */
  lo = 0;
  hi = 0;

  constructor(
    readonly buf: Buffer,
    private readonly what: string,
  ) {
    this.end = buf.length;
  }

  fail(detail: string): never {
    throw invalid(`malformed ${this.what}: ${detail} (at byte ${this.pos} of ${this.buf.length})`);
  }

  /** Reads a varint into {@link lo}/{@link hi} (at most 10 bytes). */
  varint(): void {
    const buf = this.buf;
    let pos = this.pos;
    const end = this.end;
    let lo = 0;
    let hi = 0;
    let byte = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) this.fail('a varint runs past the end of the message');
      byte = buf[pos++]!;
      lo |= (byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.pos = pos;
        this.lo = lo >>> 0;
        this.hi = 0;
        return;
      }
    }
    if (pos >= end) this.fail('a varint runs past the end of the message');
    byte = buf[pos++]!;
    lo |= (byte & 0x7f) << 28;
    hi = (byte & 0x7f) >> 4;
    if (byte >= 0x80) {
      for (let shift = 3; ; shift += 7) {
        if (shift > 31) this.fail('a varint is longer than 10 bytes');
        if (pos >= end) this.fail('a varint runs past the end of the message');
        byte = buf[pos++]!;
        hi |= (byte & 0x7f) << shift;
        if (byte < 0x80) break;
      }
    }
    this.pos = pos;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /** A field's tag: `field << 3 | wireType`, or 0 at the end of the (sub)message. */
  tag(): number {
    if (this.pos >= this.end) return 0;
    this.varint();
    if (this.hi !== 0 || this.lo >>> 3 === 0) this.fail(`invalid field tag ${this.lo}`);
    return this.lo;
  }

  /** A varint as an unsigned 32-bit integer (lengths, uint32 fields; higher bits dropped as protobuf does). */
  uint32(): number {
    this.varint();
    return this.lo;
  }

  /** A varint as a signed 32-bit integer (int32 fields, sign-extended to 10 bytes on the wire). */
  int32(): number {
    this.varint();
    return this.lo | 0;
  }

  /** An int64 varint as a number: exact up to ±2^53, otherwise the nearest double (callers range-check). */
  int64Number(): number {
    this.varint();
    if (this.hi < 0x200000) return this.hi * TWO_32 + this.lo;
    return Number(this.int64BigIntFromLast());
  }

  int64(): bigint {
    this.varint();
    return this.int64BigIntFromLast();
  }

  uint64(): bigint {
    this.varint();
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  private int64BigIntFromLast(): bigint {
    return BigInt.asIntN(64, (BigInt(this.hi) << 32n) | BigInt(this.lo));
  }

  bool(): boolean {
    this.varint();
    return this.lo !== 0 || this.hi !== 0;
  }

  float(): number {
    if (this.pos + 4 > this.end) this.fail('a fixed32 runs past the end of the message');
    const value = this.buf.readFloatLE(this.pos);
    this.pos += 4;
    return value;
  }

  double(): number {
    if (this.pos + 8 > this.end) this.fail('a fixed64 runs past the end of the message');
    const value = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return value;
  }

  /** The length of a length-delimited field, checked against what remains; leaves `pos` at its start. */
  length(field: string): number {
    this.varint();
    const remaining = this.end - this.pos;
    if (this.hi !== 0 || this.lo > remaining) {
      this.fail(
        `field ${field} says ${this.hi * TWO_32 + this.lo} bytes but only ${remaining} remain in the message`,
      );
    }
    return this.lo;
  }

  /** A `bytes` field as a view of the input buffer (no copy). */
  bytes(field: string): Buffer {
    const length = this.length(field);
    const start = this.pos;
    this.pos += length;
    return this.buf.subarray(start, start + length);
  }

  string(field: string): string {
    const length = this.length(field);
    const start = this.pos;
    this.pos += length;
    return this.buf.toString('utf8', start, start + length);
  }

  /**
   * Enters an embedded message: returns the enclosing end, to give back to {@link leave} once the
   * message's fields are read.
   */
  enter(field: string): number {
    const length = this.length(field);
    const outer = this.end;
    this.end = this.pos + length;
    return outer;
  }

  leave(outer: number): void {
    this.pos = this.end;
    this.end = outer;
  }

  /**
   * Reads a repeated scalar field in either encoding: packed (one length-delimited run, proto3's
   * default) or one value per tag (what proto2 writers and some others send); both are valid protobuf.
   */
  repeated<T>(tag: number, scalarWire: number, into: T[], read: () => T, field: string): void {
    if ((tag & 7) === LENGTH_DELIMITED) {
      const outer = this.enter(field);
      while (this.pos < this.end) into.push(read());
      this.leave(outer);
    } else if ((tag & 7) === scalarWire) {
      into.push(read());
    } else {
      this.fail(`field ${field} has wire type ${tag & 7}, expected ${scalarWire} or packed (2)`);
    }
  }

  /** Skips a field this decoder does not know (unknown fields are ignored, as protobuf requires). */
  skip(tag: number, depth = 0): void {
    switch (tag & 7) {
      case VARINT:
        this.varint();
        return;
      case FIXED64:
        if (this.pos + 8 > this.end) this.fail('a fixed64 runs past the end of the message');
        this.pos += 8;
        return;
      case LENGTH_DELIMITED: {
        const length = this.length(`#${tag >>> 3}`); // before reading pos: length() moves it
        this.pos += length;
        return;
      }
      case START_GROUP:
        if (depth >= 32) this.fail(`groups are nested more than 32 deep`);
        for (;;) {
          const inner = this.tag();
          if (inner === 0) this.fail(`group #${tag >>> 3} has no end`);
          if ((inner & 7) === END_GROUP) {
            if (inner >>> 3 !== tag >>> 3) this.fail(`group #${tag >>> 3} ends as #${inner >>> 3}`);
            return;
          }
          this.skip(inner, depth + 1);
        }
      case FIXED32:
        if (this.pos + 4 > this.end) this.fail('a fixed32 runs past the end of the message');
        this.pos += 4;
        return;
      default:
        this.fail(`field #${tag >>> 3} has the invalid wire type ${tag & 7}`);
    }
  }

  /** Checks that a known field arrived with the wire type its declaration gives it. */
  expect(tag: number, wire: number, field: string): void {
    if ((tag & 7) !== wire) this.fail(`field ${field} has wire type ${tag & 7}, expected ${wire}`);
  }
}

/** Bytes a varint of a non-negative safe integer takes. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size += 1;
  }
  return size;
}

/**
 * A protobuf writer into one preallocated buffer: callers compute the message size first (with
 * {@link varintSize}), so a message is written with one allocation.
 */
export class WireWriter {
  pos = 0;
  readonly buf: Buffer;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** A non-negative safe integer as a varint. */
  varint(value: number): void {
    const buf = this.buf;
    while (value >= 0x80) {
      buf[this.pos++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    buf[this.pos++] = value;
  }

  /** A tag and length of a length-delimited field. */
  header(field: number, length: number): void {
    this.varint((field << 3) | LENGTH_DELIMITED);
    this.varint(length);
  }

  /** A string field whose UTF-8 length the caller measured. */
  string(field: number, text: string, byteLength: number): void {
    this.header(field, byteLength);
    this.pos += this.buf.write(text, this.pos, byteLength, 'utf8');
  }

  bytes(field: number, data: Uint8Array): void {
    this.header(field, data.byteLength);
    this.buf.set(data, this.pos);
    this.pos += data.byteLength;
  }

  /** A varint field (tag and value). */
  varintField(field: number, value: number): void {
    this.varint((field << 3) | VARINT);
    this.varint(value);
  }
}

/** Bytes of a length-delimited field with `length` bytes of content (tag of a field < 16 included). */
export function delimitedSize(field: number, length: number): number {
  return varintSize((field << 3) | LENGTH_DELIMITED) + varintSize(length) + length;
}
