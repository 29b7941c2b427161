import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ProtoWriter } from './protobuf.js';
import { frameRecord } from './tfrecord.js';

/** The `file_version` TensorBoard expects as the first event of every file. */
const FILE_VERSION = 'brain.Event:2';

// Field numbers from tensorflow/core/util/event.proto and tensorflow/core/framework/summary.proto.
const EVENT_WALL_TIME = 1;
const EVENT_STEP = 2;
const EVENT_FILE_VERSION = 3;
const EVENT_SUMMARY = 5;
const SUMMARY_VALUE = 1;
const VALUE_TAG = 1;
const VALUE_SIMPLE_VALUE = 2;

/** An `Event` holding only `file_version`. */
function encodeFileVersionEvent(wallTime: number): Buffer {
  return new ProtoWriter()
    .double(EVENT_WALL_TIME, wallTime)
    .string(EVENT_FILE_VERSION, FILE_VERSION)
    .finish();
}

/**
 * An `Event` with one `Summary.Value { tag, simple_value }`, as tensorboardX's `add_scalar` writes it
 * (`simple_value` is a 32-bit float; a step of 0 is omitted, as proto3 omits defaults).
 */
function encodeScalarEvent(tag: string, value: number, step: number, wallTime: number): Buffer {
  const summaryValue = new ProtoWriter().string(VALUE_TAG, tag).float(VALUE_SIMPLE_VALUE, value).finish();
  const summary = new ProtoWriter().bytes(SUMMARY_VALUE, summaryValue).finish();
  const event = new ProtoWriter().double(EVENT_WALL_TIME, wallTime);
  if (step !== 0) event.int64(EVENT_STEP, step);
  return event.bytes(EVENT_SUMMARY, summary).finish();
}

let fileCounter = 0;

/** Options for {@link EventFileWriter.create}. */
export interface EventFileOptions {
  /** Wall time (seconds since the epoch) of the file's first event; also names the file. Default: now. */
  wallTime?: number;
}

/**
 * An append-only TensorBoard event file `events.out.tfevents.<seconds>.<host>.<pid>.<n>` in a folder.
 * Each event is one `write` of a whole framed record, so a reader (or a writer killed with kill -9)
 * sees complete records followed at most by one truncated record, which readers skip.
 */
export class EventFileWriter {
  private fd: number | undefined;

  private constructor(
    /** The file's path. */
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Creates the folder (recursively) and a new event file in it, starting with the `file_version` event. */
  static create(dir: string, options: EventFileOptions = {}): EventFileWriter {
    const wallTime = options.wallTime ?? Date.now() / 1000;
    mkdirSync(dir, { recursive: true });
    const seconds = String(Math.floor(wallTime)).padStart(10, '0');
    const name = `events.out.tfevents.${seconds}.${hostname()}.${process.pid}.${fileCounter++}`;
    const path = join(dir, name);
    const writer = new EventFileWriter(path, openSync(path, 'wx'));
    writer.append(encodeFileVersionEvent(wallTime));
    return writer;
  }

  /** Appends one scalar (`wallTime` in seconds since the epoch). */
  addScalar(tag: string, value: number, step: number, wallTime: number): void {
    if (!Number.isSafeInteger(step))
      throw new RangeError(`step must be an integer, got ${step} (tag ${tag})`);
    this.append(encodeScalarEvent(tag, value, step, wallTime));
  }

  /** Flushes to disk and closes the file; later writes throw. */
  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  private append(event: Uint8Array): void {
    if (this.fd === undefined) throw new Error(`event file ${this.path} is closed`);
    const record = frameRecord(event);
    let written = 0;
    while (written < record.length) written += writeSync(this.fd, record, written, record.length - written);
  }
}
