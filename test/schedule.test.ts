import { describe, expect, it } from 'vitest';
import { learningRateAt, SCHEDULER_NAMES, warmupStepsOf } from '../lib/schedule.js';

describe('learning-rate schedules', () => {
  const base = { learningRate: 0.01, totalSteps: 100, warmupSteps: 0 };

  it('constant keeps the rate', () => {
    expect([0, 50, 99].map((s) => learningRateAt({ ...base, scheduler: 'constant' }, s))).toEqual([0.01, 0.01, 0.01]);
  });

  it('cosine starts at the rate, halves at the middle and ends near zero', () => {
    const at = (s: number) => learningRateAt({ ...base, scheduler: 'cosine' }, s);
    expect(at(0)).toBeCloseTo(0.01, 10);
    expect(at(50)).toBeCloseTo(0.005, 10);
    expect(at(99)).toBeLessThan(0.0001);
    expect(at(99)).toBeGreaterThan(0);
  });

  it('linear decays in a straight line', () => {
    const at = (s: number) => learningRateAt({ ...base, scheduler: 'linear' }, s);
    expect(at(25)).toBeCloseTo(0.0075, 10);
    expect(at(75)).toBeCloseTo(0.0025, 10);
  });

  it('warm-up ramps up before the schedule starts', () => {
    const at = (s: number) => learningRateAt({ ...base, warmupSteps: 9, scheduler: 'cosine' }, s);
    expect(at(0)).toBeCloseTo(0.001, 10);
    expect(at(4)).toBeCloseTo(0.005, 10);
    expect(at(9)).toBeCloseTo(0.01, 10);
    expect(at(8)).toBeLessThan(at(9));
  });
});

describe('the schedules of transformers and sentence-transformers', () => {
  const base = { learningRate: 0.01, totalSteps: 100, warmupSteps: 0 };

  it('cosine with restarts starts each cycle at the full rate (hard restarts, as get_cosine_with_hard_restarts_schedule_with_warmup)', () => {
    const at = (s: number) => learningRateAt({ ...base, scheduler: 'cosine-with-restarts', restarts: 2 }, s);
    expect(at(0)).toBeCloseTo(0.01, 10);
    expect(at(25)).toBeCloseTo(0.005, 10); // half way down the first cycle
    expect(at(49)).toBeLessThan(0.0002);
    expect(at(50)).toBeCloseTo(0.01, 10); // restart
    expect(at(75)).toBeCloseTo(0.005, 10);
  });

  it('polynomial decays as (lr - end) * (1 - progress)^power + end', () => {
    const at = (s: number) => learningRateAt({ ...base, scheduler: 'polynomial', power: 2, endLearningRate: 1e-4 }, s);
    expect(at(0)).toBeCloseTo(0.01, 12);
    expect(at(50)).toBeCloseTo((0.01 - 1e-4) * 0.25 + 1e-4, 12);
    expect(at(100)).toBeCloseTo(1e-4, 12);
    expect(at(100)).toBeGreaterThan(0);
  });

  it('constant-with-warmup ramps, then holds', () => {
    const at = (s: number) => learningRateAt({ ...base, scheduler: 'constant-with-warmup', warmupSteps: 4 }, s);
    expect([0, 1, 3, 4, 99].map(at).map((v) => Number(v.toFixed(6)))).toEqual([0.002, 0.004, 0.008, 0.01, 0.01]);
  });

  it('warm-up as a ratio of all steps, exclusive with warmupSteps', () => {
    expect(warmupStepsOf({ warmupRatio: 0.1 }, 250)).toBe(25);
    expect(warmupStepsOf({ warmupSteps: 7 }, 250)).toBe(7);
    expect(warmupStepsOf({}, 250)).toBe(0);
    expect(() => warmupStepsOf({ warmupSteps: 7, warmupRatio: 0.1 }, 250)).toThrow(/both set/);
  });

  it('every schedule stays positive and never exceeds the rate', () => {
    for (const scheduler of SCHEDULER_NAMES) {
      for (let step = 0; step < 120; step++) {
        const lr = learningRateAt({ ...base, scheduler, warmupSteps: 10, restarts: 3, power: 3 }, step);
        expect(lr, `${scheduler} step ${step}`).toBeGreaterThan(0);
        expect(lr, `${scheduler} step ${step}`).toBeLessThanOrEqual(0.01 + 1e-15);
      }
    }
  });
});
