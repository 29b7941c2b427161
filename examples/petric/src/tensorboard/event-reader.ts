import { readFile } from 'node:fs/promises';
import { readFields, type ProtoField } from './protobuf.js';
import { readRecords, type RecordTail } from './tfrecord.js';

/** One decoded `Event`: its time, step, and what it carries that this reader understands. */
interface TensorBoardEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  /** `SessionLog.status` (1 = START), when the event is a session log. */
  sessionStatus?: number;
  /** The summary's `simple_value` entries. */
  scalars: { tag: string; value: number }[];
}

/** One point of a scalar series. */
export interface ScalarPoint {
  wallTime: number;
  step: number;
  value: number;
}

/** A file's scalars by tag, in the order TensorBoard's `EventAccumulator` keeps them. */
export interface EventFileScalars {
  scalars: Map<string, ScalarPoint[]>;
  /** Set when reading stopped before the end of the file (a truncated or corrupt record). */
  tail?: RecordTail;
}

const first = (fields: ProtoField[], n: number): ProtoField | undefined => fields.find((f) => f.field === n);

function decodeEvent(data: Buffer): TensorBoardEvent {
  const fields = readFields(data);
  const wall = first(fields, 1)?.bytes;
  const step = first(fields, 2)?.varint;
  const event: TensorBoardEvent = {
    wallTime: wall ? wall.readDoubleLE(0) : 0,
    step: step === undefined ? 0 : Number(BigInt.asIntN(64, step)),
    scalars: [],
  };
  const version = first(fields, 3)?.bytes;
  if (version) event.fileVersion = version.toString('utf8');
  const sessionLog = first(fields, 7)?.bytes;
  if (sessionLog) {
    const status = first(readFields(sessionLog), 1)?.varint;
    event.sessionStatus = status === undefined ? 0 : Number(status);
  }
  for (const summary of fields.filter((f) => f.field === 5)) {
    for (const v of readFields(summary.bytes!).filter((f) => f.field === 1)) {
      const valueFields = readFields(v.bytes!);
      const tag = first(valueFields, 1)?.bytes?.toString('utf8') ?? '';
      const simple = first(valueFields, 2)?.bytes;
      if (simple) event.scalars.push({ tag, value: simple.readFloatLE(0) });
    }
  }
  return event;
}

/** Decodes every complete event of an event file's bytes. */
function decodeEvents(bytes: Uint8Array): { events: TensorBoardEvent[]; tail?: RecordTail } {
  const { records, tail } = readRecords(bytes);
  const events = records.map((r, i) => {
    try {
      return decodeEvent(Buffer.from(r.buffer, r.byteOffset, r.byteLength));
    } catch (error) {
      throw new Error(`record ${i}: not a TensorBoard Event (${(error as Error).message})`, { cause: error });
    }
  });
  return tail ? { events, tail } : { events };
}

function parseFileVersion(version: string): number {
  const n = Number(version.split(':')[1]);
  return Number.isFinite(n) ? n : -1;
}

/**
 * Scalars by tag with TensorBoard's `EventAccumulator` rules (purge_orphaned_data on): from file
 * version 2 a `SessionLog.START` drops every point at or after its step; in older files a summary
 * whose step goes back drops its tags' points at or after that step.
 */
function accumulateScalars(events: TensorBoardEvent[]): Map<string, ScalarPoint[]> {
  const scalars = new Map<string, ScalarPoint[]>();
  let fileVersion: number | undefined;
  let mostRecentStep = -Infinity;
  const purge = (tags: Iterable<string>, step: number) => {
    for (const tag of tags) {
      const points = scalars.get(tag);
      if (points)
        scalars.set(
          tag,
          points.filter((p) => p.step < step),
        );
    }
  };
  for (const event of events) {
    if (event.fileVersion !== undefined) fileVersion = parseFileVersion(event.fileVersion);
    if (fileVersion !== undefined && fileVersion >= 2) {
      if (event.sessionStatus === 1) purge([...scalars.keys()], event.step);
    } else if (event.scalars.length > 0 && event.step < mostRecentStep) {
      purge(new Set(event.scalars.map((s) => s.tag)), event.step);
    }
    if (event.scalars.length > 0) mostRecentStep = event.step;
    for (const { tag, value } of event.scalars) {
      let points = scalars.get(tag);
      if (!points) scalars.set(tag, (points = []));
      points.push({ wallTime: event.wallTime, step: event.step, value });
    }
  }
  return scalars;
}

/** Reads an event file's scalars; a truncated or corrupt tail is reported, not thrown. */
export async function readEventFile(path: string): Promise<EventFileScalars> {
  let decoded;
  try {
    decoded = decodeEvents(await readFile(path));
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`, { cause: error });
  }
  const scalars = accumulateScalars(decoded.events);
  return decoded.tail ? { scalars, tail: decoded.tail } : { scalars };
}
