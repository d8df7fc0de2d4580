// `npm run bench -- serve`'s arithmetic (bench/serveStats.ts): which responses count as steady state, the
// percentiles of their latencies and the ratio as a median of per-round ratios. No server, no model.
import { describe, expect, it } from 'vitest';
import { percentile, pooled, ratioOfRounds, roundOrder, steadyState, type ResponseSample } from '../bench/serveStats.js';

describe('bench serve statistics', () => {
  it('counts 2xx responses completed after the warm-up, and failures over the whole run', () => {
    const samples: ResponseSample[] = [
      { atMs: 100, statusCode: 200, latencyMs: 900 }, // warm-up: the start transient
      { atMs: 500, statusCode: 503, latencyMs: 5 }, // a failure during the warm-up still counts
      { atMs: 1000, statusCode: 200, latencyMs: 40 }, // completed exactly at the boundary: steady state
      { atMs: 1200, statusCode: 200, latencyMs: 20 },
      { atMs: 1300, statusCode: 500, latencyMs: 30 },
      { atMs: 1400, statusCode: 204, latencyMs: 30 },
    ];
    expect(steadyState(samples, 1000)).toEqual({ ok: 3, latenciesMs: [20, 30, 40], non2xx: 2 });
    expect(steadyState(samples, 2000)).toEqual({ ok: 0, latenciesMs: [], non2xx: 2 });
  });

  it('takes nearest-rank percentiles, as numpy.percentile(method="inverted_cdf") does', () => {
    const sorted = Array.from({ length: 200 }, (_, i) => i + 1); // 1..200
    expect(percentile(sorted, 50)).toBe(100);
    expect(percentile(sorted, 99)).toBe(198);
    expect(percentile(sorted, 100)).toBe(200);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
    expect(pooled([[1, 5], [2, 3]])).toEqual([1, 2, 3, 5]);
  });

  it('compares rounds one by one: the median of per-round ratios, not the ratio of medians', () => {
    // The host slows down 2x in round 2; each round's ratio stays near 4.
    const { perRound, median } = ratioOfRounds([40, 20, 41], [10, 5, 10]);
    expect(perRound).toEqual([4, 4, 4.1]);
    expect(median).toBe(4);
    expect(ratioOfRounds([30, 40], [10, 10]).median).toBe(3.5);
    expect(() => ratioOfRounds([1], [1, 2])).toThrow(/1 rounds against 2/);
  });

  it('alternates which mode goes first, unbatched in round 1', () => {
    expect([1, 2, 3, 4].map((r) => roundOrder(r)[0])).toEqual(['unbatched', 'batched', 'unbatched', 'batched']);
    expect(roundOrder(2)).toEqual(['batched', 'unbatched']);
  });
});
