import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventFileWriter } from '../tensorboard/event-file.js';
import { readEventFile, type ScalarPoint } from '../tensorboard/event-reader.js';
import { writeThresholdsLog } from '../tensorboard/thresholds-log.js';
import { writeLeaderboard } from './leaderboard.js';
import { passTime } from './pass-time.js';
import { pythonSort } from './python-sort.js';
import { formatFixed2, formatInterval } from './render.js';

const T0 = 1_700_000_000;
const ABOVE = { RMSE_whole_object: 0.5, RMSE_background: 0.02, AEM_VOI_a: 0.006 };
const CLOSE = { RMSE_whole_object: 0.02, RMSE_background: 0.02, AEM_VOI_a: 0.006 };
const BELOW = { RMSE_whole_object: 0.001, RMSE_background: 0.001, AEM_VOI_a: 0.001 };

/**
 * One run's log: `reset` at step -1 (T0), then 20 evaluations 10 s apart; evaluation i is above the
 * thresholds before `passAt` and below from it on (`passAt` undefined: `stuck` values throughout).
 */
function writeRun(dir: string, passAt: number | undefined, stuck = ABOVE): void {
  const w = EventFileWriter.create(dir, { wallTime: T0 });
  w.addScalar('reset', 0, -1, T0);
  for (let i = 0; i < 20; i++) {
    const values = passAt !== undefined && i >= passAt ? BELOW : stuck;
    for (const [tag, v] of Object.entries(values)) w.addScalar(tag, v, i, T0 + (i + 1) * 10);
  }
  w.close();
}

describe('ranking (rank/compute.py)', () => {
  const logs = mkdtempSync(join(tmpdir(), 'petric-rank-'));
  afterAll(() => rmSync(logs, { recursive: true, force: true }));
  const at = (...p: string[]) => join(logs, ...p);

  // d1: ties on (time, distance) broken by the deviation, and a single run (NaN deviation) between them.
  writeRun(at('alpha', 'v1', 'd1'), 2); // 30 s
  writeRun(at('alpha', 'v1', 'd1'), 6); // 70 s: median 50, deviation 28.3
  writeRun(at('alpha', 'v2', 'd1'), 4); // 50 s, one run
  writeRun(at('beta', 'v1', 'd1'), 3); // 40 s
  writeRun(at('beta', 'v1', 'd1'), 5); // 60 s: median 50, deviation 14.1
  writeRun(at('delta', 'v1', 'd1'), 0); // 10 s
  writeRun(at('gamma', 'v1', 'd1'), undefined, ABOVE); // never: 0.167 above on average
  writeRun(at('gamma', 'v2', 'd1'), undefined, CLOSE); // never: 0.007 above
  // d2: an exact tie kept in walk order; a log without metrics; a version without the dataset.
  writeRun(at('alpha', 'v1', 'd2'), 0);
  writeRun(at('alpha', 'v2', 'd2'), 0);
  writeRun(at('beta', 'v1', 'd2'), 1);
  writeRun(at('gamma', 'v2', 'd2'), undefined, CLOSE);
  const onlyReset = EventFileWriter.create(at('gamma', 'v1', 'd2'), { wallTime: T0 });
  onlyReset.addScalar('reset', 0, -1, T0);
  onlyReset.close();

  it('orders as the original does, with never-passing versions, ties and missing datasets', async () => {
    const out = at('..', `${logs.split('/').pop()}-out`);
    await writeThresholdsLog(at('0_THRESHOLDS'), ['a', 'whole_object'], { wallTime: T0 });
    const { ranking, warnings } = await writeLeaderboard(logs, out);
    expect(warnings.map((w) => w.message)).toEqual([
      'no RMSE_whole_object and RMSE_background scalars: not ranked',
    ]);
    const table = (name: string) =>
      ranking.datasets.find((d) => d.name === name)!.rows.map((r) => [r.algorithm, r.time, r.runs]);
    expect(table('d1')).toEqual([
      ['delta/v1', 10, 1],
      ['alpha/v1', 50, 2],
      ['alpha/v2', 50, 1],
      ['beta/v1', 50, 2],
      ['gamma/v2', Infinity, 1],
      ['gamma/v1', Infinity, 1],
    ]);
    expect(table('d2')).toEqual([
      ['alpha/v1', 10, 1],
      ['alpha/v2', 10, 1],
      ['beta/v1', 20, 1],
      ['gamma/v2', Infinity, 1],
      ['delta/v1', Infinity, 0],
      ['gamma/v1', Infinity, 0],
    ]);
    expect(ranking.overall).toEqual([
      { position: 1, algorithm: 'alpha/v1', rankSum: 3 },
      { position: 2, algorithm: 'alpha/v2', rankSum: 5 },
      { position: 3, algorithm: 'delta/v1', rankSum: 6 },
      { position: 4, algorithm: 'beta/v1', rankSum: 7 },
      { position: 5, algorithm: 'gamma/v2', rankSum: 9 },
      { position: 6, algorithm: 'gamma/v1', rankSum: 12 },
    ]);
    expect(readFileSync(join(out, 'leaderboard.md'), 'utf8')).toBe(
      [
        '## d1',
        'Rank|Algorithm|Time|Time (stdev)|Avg > thresh',
        '---:|---------|---:|-----------:|-----------:',
        '1|delta/v1|00:10|--:--|-0.01',
        '2|alpha/v1|00:50|00:28|-0.01',
        '3|alpha/v2|00:50|--:--|-0.01',
        '4|beta/v1|00:50|00:14|-0.01',
        '5|gamma/v2|--:--|--:--|0.01',
        '6|gamma/v1|--:--|--:--|0.17',
        '',
        '## d2',
        'Rank|Algorithm|Time|Time (stdev)|Avg > thresh',
        '---:|---------|---:|-----------:|-----------:',
        '1|alpha/v1|00:10|--:--|-0.01',
        '2|alpha/v2|00:10|--:--|-0.01',
        '3|beta/v1|00:20|--:--|-0.01',
        '4|gamma/v2|--:--|--:--|0.01',
        '5|delta/v1|--:--|--:--|inf',
        '6|gamma/v1|--:--|--:--|inf',
        '',
        '## Leaderboard',
        '![](ranks.svg)',
        '1) alpha/v1',
        '2) alpha/v2',
        '3) delta/v1',
        '4) beta/v1',
        '5) gamma/v2',
        '6) gamma/v1',
        '',
      ].join('\n'),
    );
    const json = JSON.parse(readFileSync(join(out, 'leaderboard.json'), 'utf8')) as {
      datasets: { rows: { algorithm: string; time: number | null; passed: boolean }[] }[];
      averageTimes: unknown;
    };
    expect(json.datasets[0]!.rows[4]).toMatchObject({ algorithm: 'gamma/v2', time: null, passed: false });
    expect(json.averageTimes).toEqual([
      { algorithm: 'delta/v1', seconds: 10 },
      { algorithm: 'alpha/v1', seconds: 30 },
      { algorithm: 'alpha/v2', seconds: 30 },
      { algorithm: 'beta/v1', seconds: 35 },
    ]);
    const svg = readFileSync(join(out, 'ranks.svg'), 'utf8');
    expect(svg).toContain('Average time to reach threshold');
    expect([...svg.matchAll(/<g class="bar"><text[^>]*>([^<]*)</g)].map((m) => m[1])).toEqual([
      'delta/v1',
      'alpha/v1',
      'alpha/v2',
      'beta/v1',
    ]);
    rmSync(out, { recursive: true, force: true });
  });

  it('writes the threshold lines at t = 0 and t = budget', async () => {
    const dir = at('0_THRESHOLDS');
    const path = await writeThresholdsLog(dir, ['b', 'a', 'background'], {
      wallTime: T0,
      budgetSeconds: 600,
    });
    const { scalars } = await readEventFile(path);
    expect([...scalars.keys()]).toEqual(['AEM_VOI_a', 'AEM_VOI_b', 'RMSE_whole_object', 'RMSE_background']);
    expect(scalars.get('AEM_VOI_b')).toEqual([
      { step: 0, wallTime: T0, value: Math.fround(0.005) },
      { step: 600, wallTime: T0 + 600, value: Math.fround(0.005) },
    ]);
  });
});

describe('pass time of one log', () => {
  const series = (values: number[], t0 = 100): ScalarPoint[] =>
    values.map((value, i) => ({ step: i, wallTime: t0 + i, value }));
  const ok = Array.from({ length: 12 }, (_, i) => (i < 2 ? 1 : 0));

  it('times from the first reset, else from the first evaluation', () => {
    const scalars = new Map([
      ['RMSE_whole_object', series(ok)],
      ['RMSE_background', series(ok)],
    ]);
    expect(passTime(scalars)).toMatchObject({
      time: 2,
      distance: -0.01,
      warnings: ['no reset scalar: timing from the first evaluation'],
    });
    scalars.set('reset', [{ step: -1, wallTime: 90, value: 0 }]);
    expect(passTime(scalars)).toMatchObject({ time: 12, warnings: [] });
  });

  it('uses the common evaluations where tags are ragged (a run cut off between tags)', () => {
    const scalars = new Map([
      ['RMSE_whole_object', series([...ok, 0])],
      ['RMSE_background', series(ok)],
      ['AEM_VOI_VOI_whole_object', series([9])],
    ]);
    const r = passTime(scalars);
    expect(r.time).toBe(2);
    expect(r.warnings).toContain('tags have different numbers of evaluations: using the first 12');
  });
});

describe('formatting as Python prints', () => {
  it.each([
    [0, '00:00'],
    [59.9, '00:59'],
    [3599, '59:59'],
    [3600, '1:00:00'],
    [36_061, '10:01:01'],
    [Infinity, '--:--'],
    [NaN, '--:--'],
  ])('tqdm.format_interval(%d) = %s', (s, text) => expect(formatInterval(s)).toBe(text));

  it('formats .2f like Python', () => {
    expect([0.125, -0.0073, Infinity, -Infinity, NaN].map(formatFixed2)).toEqual([
      '0.13',
      '-0.01',
      'inf',
      '-inf',
      'nan',
    ]);
  });

  it("sorts as CPython's list.sort where NaN makes '<' inconsistent", () => {
    // sorted([(50, 28), (50, nan), (50, 14)]) in CPython 3.11 keeps this order (one ascending run).
    const items: [number, number][] = [
      [50, 28],
      [50, NaN],
      [50, 14],
    ];
    const lt = (a: [number, number], b: [number, number]) => (a[0] !== b[0] ? a[0] < b[0] : a[1] < b[1]);
    expect(pythonSort([...items], lt)).toEqual(items);
    expect(
      pythonSort(
        [
          [3, 0],
          [2, 0],
          [1, 0],
          [0, 0],
        ] as [number, number][],
        lt,
      ),
    ).toEqual([
      [0, 0],
      [1, 0],
      [2, 0],
      [3, 0],
    ]);
  });
});
