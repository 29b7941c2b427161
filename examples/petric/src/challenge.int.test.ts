import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '@beamline/core';
import { requireService } from '@beamline/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEventsStrict } from '../test/support/independent-reader.js';
import { BUSYBOX, removeTeamImages, writeSubmission } from '../test/support/submissions.js';
import { challengePaths, connectDocker, runChallenge, submit } from './challenge.js';
import { makePhantom, writePhantomDataset } from './data/phantom.js';

const docker = await connectDocker();
const hasImage = docker
  ? await docker
      .getImage(BUSYBOX)
      .inspect()
      .then(
        () => true,
        () => false,
      )
  : false;
const run = requireService(
  `a Docker engine with ${BUSYBOX}`,
  docker !== undefined && hasImage,
  'Run packages/plugin-docker/scripts/setup-test-env.sh as root.',
);

describe.runIf(run)('a challenge run in Docker containers', () => {
  const root = mkdtempSync(join(tmpdir(), 'petric-challenge-'));
  const paths = challengePaths(root);
  const phantom = makePhantom({ dims: [12, 12, 4] });
  const fast = Array.from({ length: 30 }, (_, k) => Math.min(1, k / 5)); // exact from iteration 5
  const slow = Array.from({ length: 400 }, (_, k) => 1 - 0.97 ** k); // never within the thresholds in time

  beforeAll(async () => {
    await writePhantomDataset(join(paths.data, 'nema'), phantom);
    await writePhantomDataset(join(paths.data, 'crash_ds'), phantom);
    await writeSubmission(join(root, 'ctx-fast'), { nema: { phantom, fractions: fast } });
    await writeSubmission(join(root, 'ctx-slow'), { nema: { phantom, fractions: slow } });
    await submit(root, {
      team: 'fastteam',
      version: 'v1',
      context: join(root, 'ctx-fast'),
      command: ['/bin/sh', '/submission/run', '0.05'],
      docker: docker!,
    });
    await submit(root, {
      team: 'slowteam',
      version: 'v1',
      context: join(root, 'ctx-slow'),
      command: ['/bin/sh', '/submission/run', '0.1'],
      docker: docker!,
    });
  }, 300_000);
  afterAll(async () => {
    rmSync(root, { recursive: true, force: true });
    if (docker) await removeTeamImages(docker, ['fastteam', 'slowteam']);
  });

  it('runs every submission on every dataset: early stop, budget stop, a crash recorded on its dataset only', async () => {
    const { runs, ranking } = await runChallenge(root, {
      budgetSeconds: 2,
      hardLimitSeconds: 120,
      gpus: [],
      docker: docker!,
    });
    const result = runs.at(-1)!;
    expect(result.status).toBe('failed');
    const steps = result.steps;
    expect(steps['fastteam-v1-nema']).toMatchObject({
      status: 'succeeded',
      outputs: { outcome: 'converged', lastIteration: 14, evaluations: 15 },
    });
    expect(steps['slowteam-v1-nema']).toMatchObject({ status: 'succeeded', outputs: { outcome: 'budget' } });
    for (const team of ['fastteam', 'slowteam']) {
      expect(steps[`${team}-v1-crash_ds`]).toMatchObject({
        status: 'failed',
        error: { code: 'PETRIC_SUBMISSION_FAILED' },
      });
      expect(steps[`${team}-v1-crash_ds`]!.error!.message).toMatch(
        /exited with code 3; stderr ends with:\nboom on crash_ds/,
      );
    }

    // Every scalar in the event file is a metric event of the run, with the same tag, step and float32
    // value; its wall time is the budget clock's (metric time excluded), never after the event's own time.
    const dir = join(paths.logs, 'fastteam', 'v1', 'nema');
    const files = readdirSync(dir).filter((n) => n.startsWith('events.out.tfevents.'));
    expect(files).toHaveLength(1);
    const events = readEventsStrict(join(dir, files[0]!));
    expect(events[0]!.fileVersion).toBe('brain.Event:2');
    const scalars = events.slice(1).map((e) => ({
      tag: e.summary!.value![0]!.tag!,
      step: e.step ?? 0,
      value: e.summary!.value![0]!.simpleValue!,
    }));
    expect(scalars[0]).toEqual({ tag: 'reset', step: -1, value: 0 });
    const store = SqliteStore.open({ cwd: root });
    const metricEvents: { tag: string; step: number; value: number }[] = [];
    const recordedAt: number[] = [];
    for await (const e of store.readEvents(result.runId)) {
      if (e.type === 'metric' && e.stepId === 'fastteam-v1-nema') {
        metricEvents.push({ tag: e.name, step: e.step!, value: Math.fround(e.value) });
        recordedAt.push(e.time / 1000);
      }
    }
    await store.close();
    expect(scalars).toEqual(metricEvents);
    expect(new Set(metricEvents.map((m) => m.tag))).toEqual(
      new Set(['reset', 'RMSE_whole_object', 'RMSE_background', 'AEM_VOI_cold_sphere', 'AEM_VOI_hot_sphere']),
    );
    const wallTimes = events.slice(1).map((e) => e.wallTime!);
    wallTimes.forEach((t, i) => {
      expect(t).toBeLessThanOrEqual(recordedAt[i]! + 0.001);
      if (i > 0) expect(t).toBeGreaterThanOrEqual(wallTimes[i - 1]!);
    });

    // The slow submission's log ends with the budget's reset marker.
    const slowDir = join(paths.logs, 'slowteam', 'v1', 'nema');
    const slowEvents = readEventsStrict(
      join(
        slowDir,
        readdirSync(slowDir).find((n) => n.startsWith('events.out'))!,
      ),
    );
    expect(slowEvents.at(-1)!.summary!.value![0]!.tag).toBe('reset');

    // Ranked: the fast one passed; the slow one never did and is ranked by distance.
    const nema = ranking.datasets.find((d) => d.name === 'nema')!;
    expect(nema.rows.map((r) => [r.algorithm, Number.isFinite(r.time)])).toEqual([
      ['fastteam/v1', true],
      ['slowteam/v1', false],
    ]);
    expect(nema.rows[1]!.distance).toBeGreaterThan(0);
    expect(readFileSync(join(paths.leaderboard, 'leaderboard.md'), 'utf8')).toContain('1) fastteam/v1');
    expect(readdirSync(join(paths.logs, '0_THRESHOLDS'))).toHaveLength(1);

    // No container is left behind.
    const left = await docker!.listContainers({ all: true, filters: { label: ['io.beamline.petric.team'] } });
    expect(left).toEqual([]);
  });

  it('a second run takes unchanged results from the cache and runs the failed ones again', async () => {
    const { runs } = await runChallenge(root, {
      budgetSeconds: 2,
      hardLimitSeconds: 120,
      gpus: [],
      docker: docker!,
    });
    const steps = runs.at(-1)!.steps;
    expect(steps['fastteam-v1-nema']!.status).toBe('cached');
    expect(steps['slowteam-v1-nema']!.status).toBe('cached');
    expect(steps['fastteam-v1-crash_ds']!.status).toBe('failed');
    expect(
      readdirSync(join(paths.logs, 'fastteam', 'v1', 'nema')).filter((n) => n.startsWith('events.out')),
    ).toHaveLength(1);
  });
});
