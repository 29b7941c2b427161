import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore, type RunEvent } from '@beamline/core';
import { ExitCode } from '../cli-io.js';
import { main } from '../main.js';
import { createFakeIO } from '../testing/fake-io.js';

const root = mkdtempSync(join(tmpdir(), 'beamline-gc-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const DAY = 24 * 60 * 60 * 1000;

/** A store in a fresh folder with an old finished run, an old running one and a recent one. */
async function storeWithRuns(): Promise<string> {
  const cwd = mkdtempSync(join(root, 'w'));
  const store = SqliteStore.open({ cwd });
  const now = Date.now();
  const add = async (id: string, createdAt: number, time: number, ended: boolean): Promise<void> => {
    await store.createRun({ id, pipeline: 'p', plan: { steps: [{ id: 's' }] }, params: {}, cwd, createdAt });
    const events: RunEvent[] = [
      { runId: id, seq: 1, time, type: 'run-started', pipeline: 'p', resumed: false },
      {
        runId: id,
        seq: 2,
        time,
        type: 'log',
        stepId: 's',
        attempt: 1,
        stream: 'stdout',
        text: 'x'.repeat(200_000),
      },
    ];
    if (ended) events.push({ runId: id, seq: 3, time, type: 'run-succeeded', durationMs: 1 });
    await store.append(id, events);
  };
  await add('old', 1, now - 40 * DAY, true);
  await add('old-running', 2, now - 40 * DAY, false);
  await add('recent', 3, now, true);
  await store.close();
  return cwd;
}

describe('beamline gc', () => {
  it('says what it would delete, then deletes it and reports the space given back', async () => {
    const cwd = await storeWithRuns();
    const dry = createFakeIO({ cwd });
    expect(await main(['gc', '--keep-days', '30', '--dry-run'], dry)).toBe(ExitCode.ok);
    expect(dry.stdout.text).toMatch(
      /^Would delete 1 run \(3 events\), giving back about 200 kB of log text\.\n {2}old\n$/,
    );

    const io = createFakeIO({ cwd });
    expect(await main(['gc', '--keep-days', '30', '--json'], io)).toBe(ExitCode.ok);
    const report = JSON.parse(io.stdout.text) as { runs: string[]; reclaimedBytes: number };
    expect(report.runs).toEqual(['old']);
    expect(report.reclaimedBytes).toBe(200_000);

    const runs = createFakeIO({ cwd });
    await main(['runs'], runs);
    expect(runs.stdout.text).toContain('recent');
    expect(runs.stdout.text).toContain('old-running');
    expect(runs.stdout.text).not.toMatch(/^old\s/m);
  });

  it('asks for a limit, and refuses a bad one (exit 2)', async () => {
    const cwd = await storeWithRuns();
    const none = createFakeIO({ cwd });
    expect(await main(['gc'], none)).toBe(ExitCode.badInput);
    expect(none.stderr.text).toContain('give --keep-days <n>, --keep-runs <n> or both');
    const bad = createFakeIO({ cwd });
    expect(await main(['gc', '--keep-runs', '-1'], bad)).toBe(ExitCode.badInput);
    expect(bad.stderr.text).toContain('--keep-runs');
  });

  it('keeps the newest runs by count', async () => {
    const cwd = await storeWithRuns();
    const io = createFakeIO({ cwd });
    expect(await main(['gc', '--keep-runs', '1'], io)).toBe(ExitCode.ok);
    expect(io.stdout.text).toMatch(/^Deleted 1 run \(3 events\); gave back .* of log text\.\n {2}old\n$/);
  });
});
