import { describe, expect, it } from 'vitest';
import { BudgetClock } from './budget-clock.js';
import { passIndex, ThresholdWindow } from './early-stop.js';
import { QualityMetrics } from './quality-metrics.js';
import { thresholdFor } from './thresholds.js';

describe('QualityMetrics', () => {
  // Hand-computed: norm = mean(reference over background) = 2.
  const reference = {
    image: Float32Array.from([10, 10, 2, 2, 2, 2]),
    wholeObject: [1, 1, 1, 1, 1, 1],
    background: [0, 0, 1, 1, 1, 1],
    vois: { sphere_cold: [0, 0, 0, 0, 0, 1], hot: [1, 1, 0, 0, 0, 0] },
  };

  it('computes RMSE over the masks and AEM per VOI, divided by the background mean, VOIs sorted', () => {
    const m = new QualityMetrics(reference);
    expect(m.norm).toBe(2);
    expect(m.keys()).toEqual(['RMSE_whole_object', 'RMSE_background', 'AEM_VOI_hot', 'AEM_VOI_sphere_cold']);
    const out = m.evaluate([11, 9, 2, 2, 2, 4]);
    // whole: sqrt((1 + 1 + 4) / 6) = 1; background: sqrt(4 / 4) = 1; hot: |10 - 10|; cold: |4 - 2|.
    expect([...out]).toEqual([
      ['RMSE_whole_object', 0.5],
      ['RMSE_background', 0.5],
      ['AEM_VOI_hot', 0],
      ['AEM_VOI_sphere_cold', 1],
    ]);
    expect([...m.evaluate(reference.image).values()]).toEqual([0, 0, 0, 0]);
  });

  it('refuses mismatched sizes, empty masks and a background without activity, naming what is wrong', () => {
    expect(() => new QualityMetrics({ ...reference, background: [1, 1] })).toThrow(
      /background mask has 2 voxels, the reference image 6/,
    );
    expect(() => new QualityMetrics({ ...reference, vois: { empty: [0, 0, 0, 0, 0, 0] } })).toThrow(
      /VOI "empty" selects no voxel/,
    );
    expect(() => new QualityMetrics({ ...reference, image: [1, 1, 0, 0, 0, 0] })).toThrow(
      /background is 0, not positive/,
    );
    expect(() => new QualityMetrics(reference).evaluate([1])).toThrow(/image has 1 voxels, the reference 6/);
  });
});

describe('thresholds and early stop', () => {
  it('maps tags to thresholds as petric.py does', () => {
    expect(thresholdFor('RMSE_whole_object')).toBe(0.01);
    expect(thresholdFor('RMSE_background')).toBe(0.01);
    expect(thresholdFor('AEM_VOI_sphere_10mm')).toBe(0.005);
    expect(() => thresholdFor('objective')).toThrow(/no threshold for metric "objective"/);
  });

  const pass = new Map([
    ['RMSE_whole_object', 0.01],
    ['RMSE_background', 0.0099],
    ['AEM_VOI_a', 0.005],
  ]);
  const miss = new Map([...pass, ['AEM_VOI_a', 0.0051]]);

  it('stops after 10 consecutive evaluations at or below every threshold; a miss starts again', () => {
    const w = new ThresholdWindow();
    for (let i = 0; i < 9; i++) expect(w.update(pass)).toBe(false);
    expect(w.update(miss)).toBe(false);
    expect(w.passing).toBe(0);
    for (let i = 0; i < 9; i++) expect(w.update(pass)).toBe(false);
    expect(w.update(pass)).toBe(true);
    expect(new ThresholdWindow(1).update(new Map([['RMSE_background', NaN]]))).toBe(false);
  });

  // Recorded from scipy.ndimage.binary_erosion(passed, np.ones(w), origin=-(w // 2)) (scipy 1.17).
  const bits = (s: string) => [...s].map((c) => [c === '1' ? 0 : 1]);
  it.each([
    ['01111111111101111111111', 10, 1],
    ['01111111111101111111111', 3, 1],
    ['0111111111011111111110', 10, 11],
    ['1111111110', 10, -1],
    ['1111111111', 10, 0],
    ['0000000001111111111', 10, 9],
    ['', 10, -1],
  ])('pass_index(%s, window %i) = %i', (passed, window, expected) => {
    expect(passIndex(bits(passed), [0.5], window)).toBe(expected);
  });

  it('pass_index needs every metric under its own threshold', () => {
    const rows = Array.from({ length: 12 }, (_, i) => [0.001, i < 2 ? 0.006 : 0.004]);
    expect(passIndex(rows, [0.01, 0.005])).toBe(2);
    expect(passIndex(rows, [0.01, 0.003])).toBe(-1);
    expect(() => passIndex([[1]], [1, 2])).toThrow(/evaluation 0 has 1 metrics, expected 2/);
  });
});

describe('BudgetClock', () => {
  it('excludes paused time from the budget, as MetricsWithTimeout subtracts metric time', async () => {
    let wall = 1000;
    const clock = new BudgetClock(600, () => wall);
    expect(clock.now()).toBe(1000);
    wall = 1400;
    clock.pause();
    wall = 1900; // 500 s of metrics
    expect(clock.now()).toBe(1400);
    clock.resume();
    expect(clock.used()).toBe(400);
    expect(clock.expired()).toBe(false);
    wall = 2100;
    expect(clock.used()).toBe(600);
    expect(clock.expired()).toBe(false);
    wall = 2100.5;
    expect(clock.expired()).toBe(true);
    await clock.exclude(() => {
      wall = 3000;
    });
    expect(clock.used()).toBe(600.5);
    expect(clock.reset()).toBe(3000);
    expect(clock.used()).toBe(0);
  });

  it('refuses a non-positive budget and unbalanced pauses', () => {
    expect(() => new BudgetClock(0)).toThrow(/positive/);
    const clock = new BudgetClock(1);
    expect(() => clock.resume()).toThrow(/not paused/);
    clock.pause();
    expect(() => clock.pause()).toThrow(/already paused/);
  });
});
