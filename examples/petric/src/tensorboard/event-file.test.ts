import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readEventsStrict } from '../../test/support/independent-reader.js';
import { crc32c, maskedCrc32c } from './crc32c.js';
import { EventFileWriter } from './event-file.js';
import { readEventFile } from './event-reader.js';

describe('crc32c', () => {
  it('matches the published check values', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
  });

  it('masks as TFRecord does', () => {
    const crc = crc32c(Buffer.from('123456789'));
    expect(maskedCrc32c(Buffer.from('123456789'))).toBe((((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0);
  });
});

describe('EventFileWriter', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'petric-events-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const points = [
    { tag: 'reset', value: 0, step: -1, wallTime: 1_700_000_000.125 },
    { tag: 'RMSE_whole_object', value: 0.123456789, step: 0, wallTime: 1_700_000_001.5 },
    { tag: 'RMSE_background', value: 0.5, step: 0, wallTime: 1_700_000_001.5 },
    { tag: 'AEM_VOI_sphere_1', value: 1e-7, step: 0, wallTime: 1_700_000_001.5 },
    { tag: 'RMSE_whole_object', value: 0.01, step: 1, wallTime: 1_700_000_002.75 },
    { tag: 'RMSE_whole_object', value: 3.5, step: 2 ** 40, wallTime: 1_700_000_003 },
    { tag: 'émission/µ', value: -2.25, step: 7, wallTime: 1_700_000_004 },
  ];

  function writeAll(): string {
    const writer = EventFileWriter.create(join(dir, 'team', 'v1', 'ds'), { wallTime: 1_700_000_000.125 });
    for (const p of points) writer.addScalar(p.tag, p.value, p.step, p.wallTime);
    writer.close();
    return writer.path;
  }

  it('names the file as TensorBoard expects and writes file_version first', () => {
    const path = writeAll();
    expect(path).toMatch(/\/team\/v1\/ds\/events\.out\.tfevents\.1700000000\.[^/]+\.\d+\.\d+$/);
    const events = readEventsStrict(path);
    expect(events[0]).toEqual({ wallTime: 1_700_000_000.125, fileVersion: 'brain.Event:2' });
  });

  it('writes events an independent protobuf reader decodes to the same tags, steps, times and values', () => {
    const events = readEventsStrict(writeAll()).slice(1);
    expect(events).toHaveLength(points.length);
    events.forEach((event, i) => {
      const p = points[i]!;
      expect(event.wallTime).toBe(p.wallTime);
      expect(event.step ?? 0).toBe(p.step);
      expect(event.summary?.value).toEqual([{ tag: p.tag, simpleValue: Math.fround(p.value) }]);
    });
  });

  it("reads back with the package's reader", async () => {
    const { scalars, tail } = await readEventFile(writeAll());
    expect(tail).toBeUndefined();
    expect(scalars.get('RMSE_whole_object')).toEqual([
      { step: 0, value: Math.fround(0.123456789), wallTime: 1_700_000_001.5 },
      { step: 1, value: Math.fround(0.01), wallTime: 1_700_000_002.75 },
      { step: 2 ** 40, value: 3.5, wallTime: 1_700_000_003 },
    ]);
    expect(scalars.get('reset')).toEqual([{ step: -1, value: 0, wallTime: 1_700_000_000.125 }]);
  });

  it('never overwrites: two writers in one folder make two files', () => {
    const a = EventFileWriter.create(dir, { wallTime: 1_700_000_000 });
    const b = EventFileWriter.create(dir, { wallTime: 1_700_000_000 });
    a.close();
    b.close();
    expect(readdirSync(dir)).toHaveLength(2);
  });

  it('refuses writes after close and non-integer steps', () => {
    const writer = EventFileWriter.create(dir);
    expect(() => writer.addScalar('x', 1, 1.5, 0)).toThrow(/step must be an integer/);
    writer.close();
    expect(() => writer.addScalar('x', 1, 1, 0)).toThrow(/closed/);
  });

  it('a truncated last record (a writer killed mid-write) is reported and the records before it kept', async () => {
    const path = writeAll();
    const size = readFileSync(path).length;
    truncateSync(path, size - 3);
    const { scalars, tail } = await readEventFile(path);
    expect(tail?.reason).toBe('truncated');
    expect(scalars.get('émission/µ')).toBeUndefined();
    expect(scalars.get('RMSE_whole_object')).toHaveLength(3);
  });

  it('a flipped byte is a corrupt record: reading stops there', async () => {
    const path = writeAll();
    const bytes = readFileSync(path);
    bytes[bytes.length - 6]! ^= 0x40;
    writeFileSync(path, bytes);
    const { tail, scalars } = await readEventFile(path);
    expect(tail?.reason).toBe('corrupt');
    expect(scalars.get('RMSE_whole_object')).toHaveLength(3);
  });
});
