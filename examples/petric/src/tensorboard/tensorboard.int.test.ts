import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireService } from '@beamline/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { EventFileWriter } from './event-file.js';

const python = process.env.PETRIC_PYTHON ?? 'python3';
const available =
  spawnSync(python, ['-c', 'import tensorboard.backend.event_processing.event_accumulator'], {
    stdio: 'ignore',
  }).status === 0;
const run = requireService(
  "TensorBoard's Python package",
  available,
  'Run examples/petric/scripts/setup-test-env.sh (pip install tensorboard) or set PETRIC_PYTHON.',
);
const dump = fileURLToPath(new URL('../../test/support/tensorboard-dump.py', import.meta.url));

type Dump = Record<string, { file_version: number; scalars: Record<string, [number, number, number][]> }>;

describe.runIf(run)("TensorBoard's own loader", () => {
  const dir = mkdtempSync(join(tmpdir(), 'petric-tb-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads every scalar with its step, wall time and float32 value', () => {
    const writer = EventFileWriter.create(join(dir, 'team', 'v1', 'ds'), { wallTime: 1_700_000_000.5 });
    const expected: Record<string, [number, number, number][]> = { reset: [[-1, 1_700_000_000.5, 0]] };
    writer.addScalar('reset', 0, -1, 1_700_000_000.5);
    for (let step = 0; step < 200; step++) {
      const t = 1_700_000_001 + step * 0.37;
      for (const [tag, value] of [
        ['RMSE_whole_object', 1 / (step + 1)],
        ['RMSE_background', Math.exp(-step / 20)],
        ['AEM_VOI_sphere_10mm', 0.1 * Math.cos(step)],
      ] as const) {
        writer.addScalar(tag, value, step, t);
        (expected[tag] ??= []).push([step, t, Math.fround(value)]);
      }
    }
    writer.addScalar('reset', 0, 200, 1_700_000_200);
    expected.reset!.push([200, 1_700_000_200, 0]);
    writer.close();

    const out = JSON.parse(execFileSync(python, [dump, writer.path], { encoding: 'utf8' })) as Dump;
    const file = out[writer.path]!;
    expect(file.file_version).toBe(2);
    expect(file.scalars).toEqual(expected);
  });
});
