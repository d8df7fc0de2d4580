import { describe, expect, it } from 'vitest';
import { computeRetrievalMetrics, type RetrievalMetrics } from '../lib/metrics.js';
import { mulberry32 } from '../lib/data/sampler.js';

const f32 = (rows: number[][]): Float32Array => Float32Array.from(rows.flat());

// Five index items around the unit circle (deliberately not unit length: the function normalises).
// Cosine with [1, 0]: i0 1, i1 0.8, i2 0.6, i3 0, i4 -1.
const INDEX = { embeddings: f32([[5, 0], [8, 6], [3, 4], [0, 2], [-1, 0]]), labels: ['a', 'b', 'a', 'b', 'a'] };
const LOG2_3 = Math.log2(3);

describe('computeRetrievalMetrics: hand-computed cases', () => {
  it('one query, relevant items at ranks 1, 3 and 5', async () => {
    const m = await computeRetrievalMetrics({ queries: { embeddings: f32([[2, 0]]), labels: ['a'] }, index: INDEX, dim: 2, k: 2 });
    expect(m.precisionAtK).toBeCloseTo(1 / 2, 12);
    expect(m.recallAtK).toBeCloseTo(1 / 3, 12);
    expect(m.hitAtK).toBe(1);
    expect(m.mrr).toBe(1);
    expect(m.ndcgAtK).toBeCloseTo(1 / (1 + 1 / LOG2_3), 12);
    expect(m.map).toBeCloseTo((1 / 1 + 2 / 3 + 3 / 5) / 3, 12); // mAP over the full ranking, not cut at k
    expect(m).toMatchObject({ k: 2, queries: 1, skippedQueries: 0, excludedSelf: false });
  });

  it('one query, relevant items at ranks 2 and 4', async () => {
    const m = await computeRetrievalMetrics({ queries: { embeddings: f32([[1, 0]]), labels: ['b'] }, index: INDEX, dim: 2, k: 2 });
    expect(m.precisionAtK).toBeCloseTo(1 / 2, 12);
    expect(m.recallAtK).toBeCloseTo(1 / 2, 12);
    expect(m.mrr).toBeCloseTo(1 / 2, 12);
    expect(m.ndcgAtK).toBeCloseTo(1 / LOG2_3 / (1 + 1 / LOG2_3), 12);
    expect(m.map).toBeCloseTo((1 / 2 + 2 / 4) / 2, 12);

    const k1 = await computeRetrievalMetrics({ queries: { embeddings: f32([[1, 0]]), labels: ['b'] }, index: INDEX, dim: 2, k: 1 });
    expect(k1).toMatchObject({ precisionAtK: 0, recallAtK: 0, hitAtK: 0, ndcgAtK: 0 });
    expect(k1.mrr).toBeCloseTo(1 / 2, 12); // MRR is over the full ranking
  });

  it('averages over queries', async () => {
    const m = await computeRetrievalMetrics({
      queries: { embeddings: f32([[2, 0], [1, 0]]), labels: ['a', 'b'] },
      index: INDEX,
      dim: 2,
      k: 2,
    });
    expect(m.recallAtK).toBeCloseTo((1 / 3 + 1 / 2) / 2, 12);
    expect(m.mrr).toBeCloseTo((1 + 1 / 2) / 2, 12);
    expect(m.map).toBeCloseTo(((1 + 2 / 3 + 3 / 5) / 3 + 0.5) / 2, 12);
  });

  it('divides precision by the number of candidates when k exceeds it', async () => {
    const m = await computeRetrievalMetrics({ queries: { embeddings: f32([[2, 0]]), labels: ['a'] }, index: INDEX, dim: 2, k: 10 });
    expect(m.precisionAtK).toBeCloseTo(3 / 5, 12);
    expect(m.recallAtK).toBe(1);
    expect(m.ndcgAtK).toBeCloseTo((1 + 1 / 2 + 1 / Math.log2(6)) / (1 + 1 / LOG2_3 + 1 / 2), 12);
  });
});

describe('computeRetrievalMetrics: self-exclusion, ties, labels', () => {
  // e0's nearest neighbours are the b items; its only relevant item e1 is orthogonal (rank 3 once e0 is
  // left out). Same for e1. e2's and e3's relevant item comes second.
  const SET = { embeddings: f32([[1, 0], [0, 1], [1, 0.1], [0.1, 1]]), labels: ['a', 'a', 'b', 'b'] };

  it('leaves each query out of its own ranking when query and index are the same set', async () => {
    const m = await computeRetrievalMetrics({ queries: SET, index: SET, dim: 2, k: 1 });
    expect(m.excludedSelf).toBe(true);
    expect(m.mrr).toBeCloseTo((1 / 3 + 1 / 3 + 1 / 2 + 1 / 2) / 4, 12);
    expect(m.hitAtK).toBe(0);
  });

  it('honours excludeSelf: false and true', async () => {
    const kept = await computeRetrievalMetrics({ queries: SET, index: SET, dim: 2, k: 1, excludeSelf: false });
    expect(kept.mrr).toBe(1);
    expect(kept.excludedSelf).toBe(false);
    // A copy is not the same set unless the caller says so.
    const copy = { embeddings: SET.embeddings.slice(), labels: [...SET.labels] };
    expect((await computeRetrievalMetrics({ queries: copy, index: SET, dim: 2, k: 1 })).mrr).toBe(1);
    expect((await computeRetrievalMetrics({ queries: copy, index: SET, dim: 2, k: 1, excludeSelf: true })).mrr).toBeCloseTo(5 / 12, 12);
    await expect(
      computeRetrievalMetrics({ queries: { embeddings: f32([[1, 0]]), labels: ['a'] }, index: SET, dim: 2, k: 1, excludeSelf: true }),
    ).rejects.toThrow(/excludeSelf: true.*same count|as many queries as index items/);
  });

  it('ranks an irrelevant item before a relevant one with the same score', async () => {
    const index = { embeddings: f32([[1, 1], [2, 2]]), labels: ['a', 'b'] };
    const m = await computeRetrievalMetrics({ queries: { embeddings: f32([[3, 3]]), labels: ['a'] }, index, dim: 2, k: 1 });
    expect(m.mrr).toBe(0.5);
    expect(m.hitAtK).toBe(0);
  });

  it('treats zero vectors as cosine 0, and 3 and "3" as the same label', async () => {
    const index = { embeddings: f32([[0, 0], [1, 0]]), labels: ['3', '4'] };
    const m = await computeRetrievalMetrics({ queries: { embeddings: f32([[-1, 0]]), labels: [3] }, index, dim: 2, k: 1 });
    expect(m.mrr).toBe(1); // the zero vector (cosine 0) beats the opposite vector (cosine -1)
  });

  it('skips queries with no relevant item in the index', async () => {
    const m = await computeRetrievalMetrics({ queries: { embeddings: f32([[2, 0], [1, 0]]), labels: ['a', 'z'] }, index: INDEX, dim: 2, k: 2 });
    expect(m).toMatchObject({ queries: 2, skippedQueries: 1, mrr: 1 });
  });
});

describe('computeRetrievalMetrics: validation', () => {
  const q = { embeddings: f32([[1, 0]]), labels: ['a'] };
  it('names the bad option', async () => {
    await expect(computeRetrievalMetrics({ queries: q, index: INDEX, dim: 3, k: 1 })).rejects.toThrow(/`queries.embeddings` has 2 floats, expected .* = 3/);
    await expect(computeRetrievalMetrics({ queries: q, index: INDEX, dim: 2, k: 0 })).rejects.toThrow(/option 'k' must be a positive integer, got 0/);
    await expect(computeRetrievalMetrics({ queries: q, index: INDEX, dim: 0, k: 1 })).rejects.toThrow(/option .dim. must be a positive integer/);
    await expect(computeRetrievalMetrics({ queries: q, index: { embeddings: new Float32Array(0), labels: [] }, dim: 2, k: 1 })).rejects.toThrow(/`index` is empty/);
    await expect(
      computeRetrievalMetrics({ queries: { embeddings: f32([[NaN, 0]]), labels: ['a'] }, index: INDEX, dim: 2, k: 1 }),
    ).rejects.toThrow(/`queries.embeddings` row 0 holds a NaN/);
  });
});

// Straightforward reference: full comparator sort per query (irrelevant first on ties), metrics from it.
function reference(qe: Float32Array, ql: number[], ie: Float32Array, il: number[], dim: number, k: number, exclude: boolean): Partial<RetrievalMetrics> {
  const norm = (e: Float32Array, r: number): number[] => {
    const v = Array.from(e.subarray(r * dim, (r + 1) * dim));
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  };
  const sums = { p: 0, r: 0, h: 0, rr: 0, ndcg: 0, ap: 0 };
  let n = 0;
  for (let i = 0; i < ql.length; i++) {
    const qv = norm(qe, i);
    const ranked = il
      .map((label, j) => ({ j, rel: label === ql[i], s: norm(ie, j).reduce((a, x, d) => a + x * qv[d]!, 0) }))
      .filter((c) => !(exclude && c.j === i))
      .sort((a, b) => b.s - a.s || Number(a.rel) - Number(b.rel));
    const R = ranked.filter((c) => c.rel).length;
    if (R === 0) continue;
    n++;
    const top = ranked.slice(0, k);
    const hits = top.filter((c) => c.rel).length;
    sums.p += hits / Math.min(k, ranked.length);
    sums.r += hits / R;
    sums.h += hits > 0 ? 1 : 0;
    sums.rr += 1 / (ranked.findIndex((c) => c.rel) + 1);
    let dcg = 0, idcg = 0, seen = 0, ap = 0;
    top.forEach((c, r) => { if (c.rel) dcg += 1 / Math.log2(r + 2); });
    for (let r = 0; r < Math.min(R, k); r++) idcg += 1 / Math.log2(r + 2);
    ranked.forEach((c, r) => { if (c.rel) ap += ++seen / (r + 1); });
    sums.ndcg += dcg / idcg;
    sums.ap += ap / R;
  }
  return { precisionAtK: sums.p / n, recallAtK: sums.r / n, hitAtK: sums.h / n, mrr: sums.rr / n, ndcgAtK: sums.ndcg / n, map: sums.ap / n };
}

describe('computeRetrievalMetrics: agrees with a brute-force reference', () => {
  // Odd counts exercise the 4-query x 2-row blocking's remainders.
  for (const [nq, ni, dim, k, classes] of [[7, 13, 5, 3, 3], [9, 9, 16, 4, 2], [5, 31, 3, 10, 4], [1, 1, 2, 1, 1]] as const) {
    it(`${nq} queries x ${ni} index items x ${dim} dims, k=${k}`, async () => {
      const random = mulberry32(nq * 1000 + ni);
      const gen = (n: number): Float32Array => Float32Array.from({ length: n * dim }, () => random() * 2 - 1);
      const labels = (n: number): number[] => Array.from({ length: n }, () => Math.floor(random() * classes));
      const qe = gen(nq), ql = labels(nq), ie = gen(ni), il = labels(ni);
      const got = await computeRetrievalMetrics({ queries: { embeddings: qe, labels: ql }, index: { embeddings: ie, labels: il }, dim, k });
      const want = reference(qe, ql, ie, il, dim, k, false);
      for (const key of Object.keys(want) as Array<keyof typeof want>) expect(got[key], key).toBeCloseTo(want[key] as number, 5);
      if (nq === ni) {
        const self = await computeRetrievalMetrics({ queries: { embeddings: qe, labels: ql }, index: { embeddings: qe, labels: ql }, dim, k });
        const wantSelf = reference(qe, ql, qe, ql, dim, k, true);
        for (const key of Object.keys(wantSelf) as Array<keyof typeof wantSelf>) {
          if (Number.isNaN(wantSelf[key])) continue; // no query had a relevant item
          expect(self[key], `self ${key}`).toBeCloseTo(wantSelf[key] as number, 5);
        }
      }
    });
  }
});
