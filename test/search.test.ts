// Native exact search (searchTopK) and the native retrieval metrics, each against a reference written
// here or kept from before: a brute-force cosine top-k in double precision, and the JavaScript metrics
// that lib/metrics.ts used before they moved to LibTorch (test/reference/retrievalMetricsJs.ts).
import { describe, expect, it } from 'vitest';
import { loadBinding } from '../lib/addonLoader.js';
import { mulberry32 } from '../lib/data/sampler.js';
import { computeRetrievalMetrics, type RetrievalMetrics } from '../lib/metrics.js';
import { searchTopK } from '../lib/search.js';
import { retrievalMetricsJs } from './reference/retrievalMetricsJs.js';

/** Rows normalised exactly as the native side does (sum of squares in double, scale, round to float). */
function normalized(data: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < data.length / dim; r++) {
    let sum = 0;
    for (let d = 0; d < dim; d++) sum += data[r * dim + d]! * data[r * dim + d]!;
    const scale = sum === 0 ? 0 : 1 / Math.sqrt(sum);
    for (let d = 0; d < dim; d++) out[r * dim + d] = data[r * dim + d]! * scale;
  }
  return out;
}

/** Round-to-nearest-even to bfloat16, as c10::BFloat16 does, back as float32 values. */
function bf16(data: Float32Array): Float32Array {
  const bits = new Uint32Array(data.slice().buffer);
  for (let i = 0; i < bits.length; i++) {
    const lsb = (bits[i]! >>> 16) & 1;
    bits[i] = ((bits[i]! + 0x7fff + lsb) >>> 16) << 16;
  }
  return new Float32Array(bits.buffer);
}

/** Every query's scores against every index row (double sums of the float rows), sorted best first. */
function bruteForce(queries: Float32Array, index: Float32Array, dim: number, precision: 'fp32' | 'bf16' = 'fp32'): { j: number; s: number }[][] {
  let q = normalized(queries, dim);
  let x = normalized(index, dim);
  if (precision === 'bf16') [q, x] = [bf16(q), bf16(x)];
  const rows: { j: number; s: number }[][] = [];
  for (let i = 0; i < q.length / dim; i++) {
    const scored = [];
    for (let j = 0; j < x.length / dim; j++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += q[i * dim + d]! * x[j * dim + d]!;
      scored.push({ j, s });
    }
    rows.push(scored.sort((a, b) => b.s - a.s));
  }
  return rows;
}

const randomRows = (random: () => number, rows: number, dim: number): Float32Array => Float32Array.from({ length: rows * dim }, () => random() * 2 - 1);

/** Native result equals the reference: scores at every position; indices wherever the next score is clearly apart. */
function expectSameTopK(got: { indices: Int32Array; scores: Float32Array; rows: number; k: number }, want: { j: number; s: number }[][], tolerance: number): void {
  expect(got.rows).toBe(want.length);
  let compared = 0;
  for (let q = 0; q < want.length; q++) {
    for (let i = 0; i < got.k; i++) {
      const wanted = want[q]![i]!;
      expect(Math.abs(got.scores[q * got.k + i]! - wanted.s), `query ${q} hit ${i} score`).toBeLessThan(tolerance);
      const apart = (i === 0 || want[q]![i - 1]!.s - wanted.s > 10 * tolerance) && (want[q]![i + 1] === undefined || wanted.s - want[q]![i + 1]!.s > 10 * tolerance);
      if (apart) {
        expect(got.indices[q * got.k + i], `query ${q} hit ${i} index`).toBe(wanted.j);
        compared++;
      }
    }
  }
  expect(compared).toBeGreaterThan(want.length * got.k * 0.8); // the data were separated enough to mean something
}

describe('searchTopK', () => {
  const dim = 24;
  const random = mulberry32(12);
  const queries = randomRows(random, 37, dim);
  const index = randomRows(random, 301, dim);

  it('equals a brute-force cosine top-k (fp32)', async () => {
    const got = await searchTopK(queries, index, { dim, k: 7 });
    expect(got.k).toBe(7);
    expectSameTopK(got, bruteForce(queries, index, dim), 1e-5);
  });

  it('bf16: scores of bf16-rounded rows summed in float32, the same top-1 where it stands apart', async () => {
    const got = await searchTopK(queries, index, { dim, k: 5, precision: 'bf16' });
    expectSameTopK(got, bruteForce(queries, index, dim, 'bf16'), 1e-5);
    const exact = bruteForce(queries, index, dim);
    for (let q = 0; q < exact.length; q++) {
      if (exact[q]![0]!.s - exact[q]![1]!.s > 0.02) expect(got.indices[q * 5], `query ${q}`).toBe(exact[q]![0]!.j);
      expect(Math.abs(got.scores[q * 5]! - exact[q]![0]!.s)).toBeLessThan(0.02);
    }
  });

  it('gives the same results in blocks of a few queries (several blocks, a short last one)', async () => {
    const binding = loadBinding();
    for (const precision of ['fp32', 'bf16'] as const) {
      const blocked = await binding.searchTopK(queries, index, dim, 6, { precision, blockRows: 4 });
      expectSameTopK(blocked, bruteForce(queries, index, dim, precision), 1e-5);
    }
  });

  it('clamps k to the index size and says so; zero rows score 0', async () => {
    const small = Float32Array.from([1, 0, 0, 1, 0, 0, -1, 0]);
    const got = await searchTopK(Float32Array.from([2, 0]), small, { dim: 2, k: 10 });
    expect(got.k).toBe(4);
    expect(got.indices[0]).toBe(0);
    expect(got.indices[3]).toBe(3);
    expect(new Set(got.indices).size).toBe(4);
    expect(Array.from(got.scores)).toEqual([1, 0, 0, -1]); // the zero index row scores 0
    const zeroQuery = await searchTopK(new Float32Array(2), small, { dim: 2, k: 2 });
    expect(Array.from(zeroQuery.scores)).toEqual([0, 0]);
  });

  it('copies its inputs when called: changing them afterwards does not change the result', async () => {
    const q = queries.slice();
    const pending = searchTopK(q, index, { dim, k: 3 });
    q.fill(0);
    expectSameTopK(await pending, bruteForce(queries, index, dim), 1e-5);
  });

  it('names the bad argument', async () => {
    const one = new Float32Array(dim);
    await expect(searchTopK([1] as unknown as Float32Array, index, { dim, k: 1 })).rejects.toThrow(/searchTopK: `queries` must be a Float32Array/);
    await expect(searchTopK(one, index.subarray(1), { dim, k: 1 })).rejects.toThrow(/`index` has 7223 floats, not whole rows of dim = 24/);
    await expect(searchTopK(one, new Float32Array(0), { dim, k: 1 })).rejects.toThrow(/`index` is empty/);
    await expect(searchTopK(one, index, { dim, k: 0 })).rejects.toThrow(/option 'k' must be a positive integer, got 0/);
    await expect(searchTopK(one, index, { dim: 2.5, k: 1 })).rejects.toThrow(/option 'dim' must be a positive integer, got 2.5/);
    await expect(searchTopK(one, index, { dim, k: 1, precision: 'fp16' as 'fp32' })).rejects.toThrow(/option 'precision' must be 'fp32' or 'bf16', got "fp16"/);
    const withNaN = index.slice();
    withNaN[5 * dim + 3] = NaN;
    await expect(searchTopK(one, withNaN, { dim, k: 1 })).rejects.toThrow(/searchTopK: `index` row 5 holds a NaN or infinite value/);
    const withInf = queries.slice();
    withInf[2 * dim] = Infinity;
    await expect(searchTopK(withInf, index, { dim, k: 1 })).rejects.toThrow(/`queries` row 2 holds a NaN/);
  });

  it('the raw binding refuses bad arguments without crashing', async () => {
    const binding = loadBinding();
    expect(() => binding.searchTopK(queries, index, 0, 1)).toThrow(/dim must be a positive integer/);
    expect(() => binding.searchTopK(queries, index, dim, -1)).toThrow(/k must be a positive integer/);
    expect(() => binding.searchTopK(queries, index.subarray(1), dim, 1)).toThrow(/not whole rows/);
    expect(() => binding.searchTopK(queries, index, dim, 1, { blockRows: 0 })).toThrow(/blockRows must be a positive integer/);
    expect(() => binding.searchTopK(queries, index, dim, 1, { precision: 'x' as 'fp32' })).toThrow(/precision must be 'fp32' or 'bf16'/);
  });
});

describe('SearchIndex (rows held natively)', () => {
  const dim = 12;
  const random = mulberry32(77);

  it('searches the rows added so far, growing between searches, as the reference does', async () => {
    const index = new (loadBinding().SearchIndex)(dim);
    const first = randomRows(random, 40, dim);
    const second = randomRows(random, 90, dim);
    const queries = randomRows(random, 9, dim);
    index.add(first);
    expectSameTopK(await index.search(queries, 5), bruteForce(queries, first, dim), 1e-5);
    index.add(second.subarray(0, 30 * dim));
    index.add(second.subarray(30 * dim));
    expect(index.rows).toBe(130);
    const all = new Float32Array([...first, ...second]);
    expectSameTopK(await index.search(queries, 5, { blockRows: 2 }), bruteForce(queries, all, dim), 1e-5);
    expectSameTopK(await index.search(queries, 5, { precision: 'bf16' }), bruteForce(queries, all, dim, 'bf16'), 1e-5);
    index.add(randomRows(random, 1, dim)); // the bf16 copy is rebuilt after an add
    expect((await index.search(queries, 500, { precision: 'bf16' })).k).toBe(131);
  });

  it('refuses NaN rows, partial rows and searches of an empty index, and copies what it is given', async () => {
    const index = new (loadBinding().SearchIndex)(dim);
    await expect(async () => index.search(new Float32Array(dim), 1)).rejects.toThrow(/SearchIndex.search: the index is empty/);
    const rows = randomRows(random, 4, dim);
    rows[2 * dim + 1] = NaN;
    expect(() => index.add(rows)).toThrow(/SearchIndex.add: rows row 2 holds a NaN or infinite value/);
    expect(() => index.add(new Float32Array(dim + 1))).toThrow(/rows has 13 floats, not whole rows of 12/);
    expect(index.rows).toBe(0);
    const good = randomRows(random, 4, dim);
    const query = good.slice(0, dim);
    const want = bruteForce(query, good, dim);
    index.add(good);
    good.fill(0); // the index holds its own copy
    expectSameTopK(await index.search(query, 4), want, 1e-5);
    expect(() => new (loadBinding().SearchIndex)(0)).toThrow(/SearchIndex: dim must be a positive integer/);
  });
});

// Unit rows of ±1/8 in 64 dimensions: every score is an exact multiple of 1/64 in float32 and double alike,
// so the native and the JavaScript metrics see the same scores, with many exact ties.
function signRows(random: () => number, rows: number): Float32Array {
  return Float32Array.from({ length: rows * 64 }, () => (random() < 0.5 ? -0.125 : 0.125));
}

const METRIC_KEYS = ['precisionAtK', 'recallAtK', 'hitAtK', 'mrr', 'ndcgAtK', 'map', 'queries', 'skippedQueries', 'excludedSelf'] as const;

function expectSameMetrics(got: RetrievalMetrics, want: RetrievalMetrics, digits: number): void {
  for (const key of METRIC_KEYS) {
    if (typeof want[key] === 'number') expect(got[key], key).toBeCloseTo(want[key] as number, digits);
    else expect(got[key], key).toBe(want[key]);
  }
}

describe('native retrieval metrics against the JavaScript reference', () => {
  for (const classes of [1, 3, 12, 90]) {
    it(`exact scores with ties, ${classes} labels (queries without a relevant item skipped)`, async () => {
      const random = mulberry32(classes);
      const labels = (n: number): number[] => Array.from({ length: n }, () => Math.floor(random() * classes));
      // Few distinct rows, so equal scores (and identical vectors) are common.
      const base = signRows(random, 6);
      const pick = (n: number): Float32Array => {
        const out = new Float32Array(n * 64);
        for (let r = 0; r < n; r++) out.set(random() < 0.5 ? base.subarray((r % 6) * 64, (r % 6 + 1) * 64) : signRows(random, 1), r * 64);
        return out;
      };
      const queries = { embeddings: pick(41), labels: labels(41) };
      const index = { embeddings: pick(97), labels: labels(97) };
      for (const k of [1, 5, 200]) {
        const options = { queries, index, dim: 64, k };
        expectSameMetrics(await computeRetrievalMetrics(options), retrievalMetricsJs(options), 12);
        const self = { queries, index: queries, dim: 64, k };
        const selfGot = await computeRetrievalMetrics(self);
        expect(selfGot.excludedSelf).toBe(true);
        expectSameMetrics(selfGot, retrievalMetricsJs(self), 12);
        const forced = { queries, index: { embeddings: queries.embeddings.slice(), labels: queries.labels }, dim: 64, k, excludeSelf: true };
        expectSameMetrics(await computeRetrievalMetrics(forced), retrievalMetricsJs(forced), 12);
      }
    });
  }

  it('in blocks of a few queries, fp32 and bf16 (exact scores survive bf16 rounding)', async () => {
    const random = mulberry32(7);
    const queries = signRows(random, 23);
    const index = signRows(random, 59);
    const queryLabels = Int32Array.from({ length: 23 }, () => Math.floor(random() * 4));
    const indexLabels = Int32Array.from({ length: 59 }, () => Math.floor(random() * 4));
    const want = retrievalMetricsJs({ queries: { embeddings: queries, labels: Array.from(queryLabels) }, index: { embeddings: index, labels: Array.from(indexLabels) }, dim: 64, k: 6 });
    for (const precision of ['fp32', 'bf16'] as const) {
      const sums = await loadBinding().retrievalMetrics(queries, queryLabels, index, indexLabels, 64, 6, { precision, blockRows: 5 });
      const judged = sums.queries - sums.skippedQueries;
      expect(sums.skippedQueries).toBe(want.skippedQueries);
      expect(sums.precision / judged).toBeCloseTo(want.precisionAtK, 12);
      expect(sums.recall / judged).toBeCloseTo(want.recallAtK, 12);
      expect(sums.hit / judged).toBeCloseTo(want.hitAtK, 12);
      expect(sums.reciprocalRank / judged).toBeCloseTo(want.mrr, 12);
      expect(sums.ndcg / judged).toBeCloseTo(want.ndcgAtK, 12);
      expect(sums.averagePrecision / judged).toBeCloseTo(want.map, 12);
    }
  });

  it('random float data: the same metrics, and bf16 close to them', async () => {
    const random = mulberry32(99);
    const dim = 32;
    const queries = { embeddings: randomRows(random, 60, dim), labels: Array.from({ length: 60 }, () => `c${Math.floor(random() * 8)}`) };
    const index = { embeddings: randomRows(random, 400, dim), labels: Array.from({ length: 400 }, () => `c${Math.floor(random() * 8)}`) };
    const want = retrievalMetricsJs({ queries, index, dim, k: 10 });
    // Scores agree to float rounding; a near-tie may rarely swap, moving a mean by under 1e-2.
    expectSameMetrics(await computeRetrievalMetrics({ queries, index, dim, k: 10 }), want, 2);
    expectSameMetrics(await computeRetrievalMetrics({ queries, index, dim, k: 10, precision: 'bf16' }), want, 1);
  });

  it('hit@1 comes with the other metrics in one pass', async () => {
    const { retrievalMetricsWithHitAt1 } = await import('../lib/metrics.js');
    const random = mulberry32(5);
    const queries = { embeddings: signRows(random, 30), labels: Array.from({ length: 30 }, () => Math.floor(random() * 3)) };
    const index = { embeddings: signRows(random, 50), labels: Array.from({ length: 50 }, () => Math.floor(random() * 3)) };
    const got = await retrievalMetricsWithHitAt1({ queries, index, dim: 64, k: 4 });
    expect(got.hitAt1).toBeCloseTo(retrievalMetricsJs({ queries, index, dim: 64, k: 1 }).hitAtK, 12);
    expect(got.hitAtK).toBeCloseTo(retrievalMetricsJs({ queries, index, dim: 64, k: 4 }).hitAtK, 12);
  });

  it('the raw binding checks labels and self-exclusion', () => {
    const binding = loadBinding();
    const rows = new Float32Array(8);
    expect(() => binding.retrievalMetrics(rows, new Int32Array(3), null, null, 2, 1)).toThrow(/queryLabels has 3 labels for 4 rows/);
    expect(() => binding.retrievalMetrics(rows, new Int32Array(4), rows.subarray(2), new Int32Array(3), 2, 1, { excludeSelf: true })).toThrow(/excludeSelf needs as many queries as index rows/);
    expect(() => binding.retrievalMetrics(rows, new Int32Array(4), rows, [1, 2, 3, 4] as unknown as Int32Array, 2, 1)).toThrow(/indexLabels must be an Int32Array/);
  });
});
