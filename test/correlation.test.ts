// Pearson and Spearman against scipy.stats (Debian's python3-scipy), on random scores with many ties.
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { averageRanks, pearson, rowCosines, spearman } from '../lib/correlation.js';
import { PYTHON, random } from './helpers/fixtures.js';

const haveScipy = spawnSync(PYTHON, ['-c', 'import scipy.stats'], { stdio: 'ignore' }).status === 0;
if (!haveScipy) console.warn(`correlation.test.ts: the scipy comparison is skipped: ${PYTHON} cannot import scipy (apt-get install python3-scipy)`);

describe('correlation', () => {
  it('ranks ties by their average rank', () => {
    expect(Array.from(averageRanks([10, 20, 20, 5, 20]))).toEqual([2, 4, 4, 1, 4]);
  });

  it('is NaN for a constant series, 1 and -1 for monotone ones', () => {
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(spearman([1, 2, 3, 4], [1, 4, 9, 16])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
  });

  it.skipIf(!haveScipy)('equals scipy.stats.pearsonr and spearmanr', () => {
    const rnd = random(11);
    const cases = Array.from({ length: 5 }, (_, c) => {
      const n = 20 + c * 37;
      const x = Array.from({ length: n }, () => Math.round(rnd() * 10) / 2); // many ties
      const y = x.map((v) => v * 0.3 + rnd());
      return { x, y };
    });
    const script = 'import json,sys\nfrom scipy import stats\nprint(json.dumps([[stats.pearsonr(c["x"],c["y"])[0], stats.spearmanr(c["x"],c["y"])[0]] for c in json.load(sys.stdin)]))';
    const expected = JSON.parse(execFileSync(PYTHON, ['-c', script], { input: JSON.stringify(cases), encoding: 'utf8' })) as number[][];
    cases.forEach((c, i) => {
      expect(pearson(c.x, c.y)).toBeCloseTo(expected[i]![0]!, 12);
      expect(spearman(c.x, c.y)).toBeCloseTo(expected[i]![1]!, 12);
    });
  });

  it('cosines of matching rows', () => {
    const a = Float32Array.from([1, 0, 0, 2, 0, 0]);
    const b = Float32Array.from([1, 1, 0, -3, 0, 0]);
    const c = rowCosines(a, b, 3);
    expect(c[0]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(c[1]).toBeCloseTo(-1, 6);
  });
});
