import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Checksums } from '../../src/checksums/checksum-format.js';
import { hostBootId } from '@beamline/core';
import { partNames, type PartState } from '../../src/files/part-file.js';

/**
 * Leaves `data` as the `.part` of `name` in `dest`, with a state file, as an interrupted run of this
 * boot leaves it (`state` overrides fields: `validator`, `url`, `expected`...).
 */
export function seedPart(
  dest: string,
  name: string,
  data: Buffer,
  size: number | undefined,
  state: Partial<PartState> & { url: string; expected?: Checksums },
): void {
  mkdirSync(dest, { recursive: true });
  const names = partNames(name);
  writeFileSync(join(dest, names.part), data);
  const full: PartState = {
    version: 2,
    size,
    validator: undefined,
    expected: {},
    bootId: hostBootId(),
    segments: [{ start: 0, end: size, done: data.length, durable: data.length }],
    ...state,
  };
  writeFileSync(join(dest, names.state), JSON.stringify(full));
}
