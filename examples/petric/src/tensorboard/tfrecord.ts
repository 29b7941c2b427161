import { maskedCrc32c } from './crc32c.js';

/**
 * One TFRecord: `uint64 length`, `uint32 masked_crc32c(length)`, `data`, `uint32 masked_crc32c(data)`,
 * all little-endian.
 */
export function frameRecord(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(data.length + 16);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}

/** Why reading a record file stopped before its end. */
export interface RecordTail {
  /** Byte offset of the first record that was not read. */
  offset: number;
  /** `truncated`: the file ends inside a record (a writer still writing, or killed); `corrupt`: a CRC mismatch. */
  reason: 'truncated' | 'corrupt';
}

/** The records of a TFRecord file's bytes, and why reading stopped early (if it did). */
export function readRecords(bytes: Uint8Array): { records: Uint8Array[]; tail?: RecordTail } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: Uint8Array[] = [];
  let offset = 0;
  while (offset < buf.length) {
    if (buf.length - offset < 12) return { records, tail: { offset, reason: 'truncated' } };
    if (buf.readUInt32LE(offset + 8) !== maskedCrc32c(buf.subarray(offset, offset + 8))) {
      return { records, tail: { offset, reason: 'corrupt' } };
    }
    const length = buf.readBigUInt64LE(offset);
    if (length > BigInt(buf.length - offset - 16)) return { records, tail: { offset, reason: 'truncated' } };
    const start = offset + 12;
    const end = start + Number(length);
    const data = buf.subarray(start, end);
    if (buf.readUInt32LE(end) !== maskedCrc32c(data)) return { records, tail: { offset, reason: 'corrupt' } };
    records.push(data);
    offset = end + 4;
  }
  return { records };
}
