/**
 * An event-file reader for the tests, independent of the package's own: TFRecord framing parsed here,
 * CRC-32C computed bit by bit (no table), messages decoded by protobufjs from tensorboard.proto.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const root = protobuf.loadSync(fileURLToPath(new URL('./tensorboard.proto', import.meta.url)));
const Event = root.lookupType('tensorboard.Event');

function crc32cBitwise(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function masked(data: Uint8Array): number {
  const crc = crc32cBitwise(data);
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

/** A decoded event as plain data (protobufjs `toObject` with longs as numbers). */
export interface PlainEvent {
  wallTime?: number;
  step?: number;
  fileVersion?: string;
  summary?: { value?: { tag?: string; simpleValue?: number }[] };
}

/** Reads every record, asserting both CRCs and that the file ends on a record boundary. */
export function readEventsStrict(path: string): PlainEvent[] {
  const buf = readFileSync(path);
  const events: PlainEvent[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const header = buf.subarray(offset, offset + 8);
    if (buf.readUInt32LE(offset + 8) !== masked(header)) throw new Error(`length CRC mismatch at ${offset}`);
    const length = Number(buf.readBigUInt64LE(offset));
    const data = buf.subarray(offset + 12, offset + 12 + length);
    if (data.length !== length) throw new Error(`record at ${offset} truncated`);
    if (buf.readUInt32LE(offset + 12 + length) !== masked(data))
      throw new Error(`data CRC mismatch at ${offset}`);
    events.push(Event.toObject(Event.decode(data), { longs: Number, defaults: false }));
    offset += 16 + length;
  }
  return events;
}
