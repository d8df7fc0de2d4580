import { describe, expect, it } from 'vitest';
import { learningRateAt } from '../lib/schedule.js';

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
