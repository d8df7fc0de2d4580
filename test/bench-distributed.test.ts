// The arithmetic of `npm run bench -- distributed` (bench/distributedRuns.ts): steps/s over the measured
// steps, the per-step communication means, the table's derived columns, and the flags. No processes.
import { describe, expect, it } from 'vitest';
import { combineRanks, distributedTable, parseDistributedArgs, summarizeSteps, type StepRecord } from '../bench/distributedRuns.js';
import { UsageError } from '../bench/shared.js';
import { random } from './helpers/fixtures.js';

/** Step records with random step times (ms) and communication seconds. */
function records(count: number, seed: number): { records: StepRecord[]; durations: number[] } {
  const rand = random(seed);
  const durations = Array.from({ length: count }, () => 50 + rand() * 200);
  let at = 1000 * rand();
  const out = durations.map((ms) => {
    at += ms;
    return { at, allReduceSeconds: (ms / 1000) * 0.1 * rand(), communicationSeconds: (ms / 1000) * 0.2 * rand() };
  });
  return { records: out, durations };
}

describe('bench distributed: summarizeSteps', () => {
  it('times only the steps after the warm-up, each whole, and averages their communication', () => {
    const { records: steps, durations } = records(10, 3);
    const summary = summarizeSteps(steps, 3);
    const measured = durations.slice(3);
    const seconds = measured.reduce((a, b) => a + b, 0) / 1000;
    expect(summary.steps).toBe(7);
    expect(summary.seconds).toBeCloseTo(seconds, 9);
    expect(summary.stepsPerSecond).toBeCloseTo(7 / seconds, 9);
    const mean = (key: 'allReduceSeconds' | 'communicationSeconds') => steps.slice(3).reduce((a, r) => a + r[key]!, 0) / 7;
    expect(summary.allReducePerStep).toBeCloseTo(mean('allReduceSeconds'), 12);
    expect(summary.communicationPerStep).toBeCloseTo(mean('communicationSeconds'), 12);
  });

  it('has no communication figure when a step lacks it, and refuses a run without measured steps', () => {
    const { records: steps } = records(5, 4);
    delete steps[4]!.allReduceSeconds;
    expect(summarizeSteps(steps, 1).allReducePerStep).toBeUndefined();
    expect(summarizeSteps(steps, 1).communicationPerStep).toBeDefined();
    expect(() => summarizeSteps(steps, 5)).toThrow(/made 5 steps, no more than the 5 warm-up steps/);
    expect(() => summarizeSteps(steps, 0)).toThrow(/warmup must be >= 1/);
  });
});

describe('bench distributed: the table', () => {
  it('derives images/s, speed-up and shares from rank 0 steps/s and the ranks mean communication', () => {
    const one = combineRanks(1, [summarizeSteps(records(6, 1).records, 2)]);
    const ranks = [summarizeSteps(records(6, 5).records, 2), summarizeSteps(records(6, 6).records, 2)];
    const two = combineRanks(2, ranks);
    expect(two.summary).toBe(ranks[0]);
    expect(two.allReducePerStep).toBeCloseTo((ranks[0]!.allReducePerStep! + ranks[1]!.allReducePerStep!) / 2, 12);
    const table = distributedTable([one, two], 16).split('\n');
    expect(table).toHaveLength(4);
    const cells = table[3]!.split('|').slice(1, -1).map((c) => c.trim());
    const sps = two.summary.stepsPerSecond;
    expect(cells[0]).toBe('2');
    expect(Number(cells[1])).toBeCloseTo(sps, 3);
    expect(Number(cells[2])).toBeCloseTo(sps * 32, 2);
    expect(Number(cells[3]!.replace('x', ''))).toBeCloseTo((sps * 32) / (one.summary.stepsPerSecond * 16), 2);
    expect(Number(cells[4])).toBeCloseTo(1 / sps, 3);
    expect(Number(cells[6]!.replace('%', ''))).toBeCloseTo(100 * two.allReducePerStep! * sps, 1);
    expect(Number(cells[8]!.replace('%', ''))).toBeCloseTo(100 * two.communicationPerStep! * sps, 1);
    expect(() => combineRanks(2, ranks.slice(0, 1))).toThrow(/expected the results of 2 ranks, got 1/);
  });
});

describe('bench distributed: flags', () => {
  it('defaults to resnet50 at batch 16, 1 and 2 processes; --quick takes the tiny model at 64 px', () => {
    expect(parseDistributedArgs([])).toMatchObject({ model: 'resnet50', size: 'full', batch: 16, steps: 8, warmup: 2, processes: [1, 2], imageSize: undefined });
    expect(parseDistributedArgs(['--quick', '--steps', '5'])).toMatchObject({ size: 'tiny', steps: 5, warmup: 1, imageSize: 64 });
    expect(parseDistributedArgs(['--processes', '1, 2,4', '--model', 'resnet18'])).toMatchObject({ processes: [1, 2, 4], model: 'resnet18' });
  });

  it('refuses bad values with a UsageError naming the flag', () => {
    for (const [args, message] of [
      [['--batch', '0'], '--batch must be a positive integer'],
      [['--processes', '1,1'], '--processes lists a count twice'],
      [['--processes', '1,x'], '--processes must be a positive integer'],
      [['--bogus'], "Unknown option '--bogus'"],
    ] as const) {
      expect(() => parseDistributedArgs([...args])).toThrow(UsageError);
      expect(() => parseDistributedArgs([...args])).toThrow(message);
    }
  });
});
