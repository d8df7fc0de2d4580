// The JavaScript implementation of the retrieval metrics that lib/metrics.ts used before they moved to
// native code (native/retrieval_metrics_worker.h). Kept as the brute-force reference the native metrics
// are tested against (test/search.test.ts) and as the "before" of `npm run bench -- evaluate`. Same
// definitions as lib/metrics.ts's header; same messages (prefixed computeRetrievalMetrics).
//
// How: every metric depends only on the ranks of the relevant items, and the rank of a relevant item is
// its place among the relevant scores plus the number of irrelevant scores at least as high. So for each
// query the scores are split into relevant and irrelevant, both sorted (native Float32Array sort), and
// merged in one pass. Scores come from a register-tiled dot-product loop in plain JS.

import { checkNumber, POSITIVE_INTEGER } from '../../lib/numericOption.js';
import { OPTION_RANGES } from '../../lib/optionRanges.js';
import type { EmbeddingSet, RetrievalMetrics, RetrievalMetricsOptions } from '../../lib/metrics.js';

function checkSet(name: string, set: EmbeddingSet, dim: number): number {
  if (!set || !(set.embeddings instanceof Float32Array)) throw new Error(`computeRetrievalMetrics: \`${name}.embeddings\` must be a Float32Array`);
  if (!Array.isArray(set.labels)) throw new Error(`computeRetrievalMetrics: \`${name}.labels\` must be an array`);
  const count = set.labels.length;
  if (set.embeddings.length !== count * dim) {
    throw new Error(
      `computeRetrievalMetrics: \`${name}.embeddings\` has ${set.embeddings.length} floats, expected ` +
        `${name}.labels.length * dim = ${count} * ${dim} = ${count * dim}`,
    );
  }
  return count;
}

/** Row-normalised copy; zero rows stay zero (cosine 0 with everything) instead of becoming NaN. */
function normalizedRows(name: string, data: Float32Array, rows: number, dim: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    const off = r * dim;
    let sum = 0;
    for (let d = 0; d < dim; d++) sum += data[off + d]! * data[off + d]!;
    if (!Number.isFinite(sum)) throw new Error(`computeRetrievalMetrics: \`${name}.embeddings\` row ${r} holds a NaN or infinite value`);
    if (sum === 0) continue;
    const inv = 1 / Math.sqrt(sum);
    for (let d = 0; d < dim; d++) out[off + d] = data[off + d]! * inv;
  }
  return out;
}

function sameMemory(a: Float32Array, b: Float32Array): boolean {
  return a === b || (a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.length === b.length);
}

const BLOCK = 4;

/**
 * Cosine scores of queries q0..q0+count-1 (count <= 4) against every index row, into out[row * ni + j].
 * Register tiling, 4 queries x 2 index rows per inner loop: each loaded float feeds several multiply-adds,
 * which is what makes plain JS reach about 2 GMAC/s (1000 x 5000 x 512 in about 1.3 s on one core,
 * against 3 s for one dot product at a time). Missing queries or a missing last index row repeat the
 * previous one, and their results are not written.
 */
function scoreBlock(q: Float32Array, q0: number, count: number, x: Float32Array, ni: number, dim: number, out: Float32Array): void {
  const qa = q0 * dim;
  const qb = count > 1 ? qa + dim : qa;
  const qc = count > 2 ? qa + 2 * dim : qa;
  const qd = count > 3 ? qa + 3 * dim : qa;
  for (let j = 0; j < ni; j += 2) {
    const o0 = j * dim;
    const o1 = j + 1 < ni ? o0 + dim : o0;
    let a0 = 0, a1 = 0, b0 = 0, b1 = 0, c0 = 0, c1 = 0, d0 = 0, d1 = 0;
    for (let d = 0; d < dim; d++) {
      const x0 = x[o0 + d]!;
      const x1 = x[o1 + d]!;
      const u = q[qa + d]!, v = q[qb + d]!, w = q[qc + d]!, z = q[qd + d]!;
      a0 += u * x0; a1 += u * x1;
      b0 += v * x0; b1 += v * x1;
      c0 += w * x0; c1 += w * x1;
      d0 += z * x0; d1 += z * x1;
    }
    const pair = j + 1 < ni;
    out[j] = a0;
    if (pair) out[j + 1] = a1;
    if (count > 1) { out[ni + j] = b0; if (pair) out[ni + j + 1] = b1; }
    if (count > 2) { out[2 * ni + j] = c0; if (pair) out[2 * ni + j + 1] = c1; }
    if (count > 3) { out[3 * ni + j] = d0; if (pair) out[3 * ni + j + 1] = d1; }
  }
}

/** Cosine-similarity retrieval metrics of `queries` against `index`; definitions in lib/metrics.ts. */
export function retrievalMetricsJs(options: RetrievalMetricsOptions): RetrievalMetrics {
  const { queries, index, dim, k } = options;
  checkNumber(dim, 'dim', POSITIVE_INTEGER);
  checkNumber(k, 'k', OPTION_RANGES.k);
  const nq = checkSet('queries', queries, dim);
  const ni = checkSet('index', index, dim);
  if (ni === 0) throw new Error('computeRetrievalMetrics: `index` is empty');

  const mode = options.excludeSelf ?? 'same-index';
  if (mode !== true && mode !== false && mode !== 'same-index') {
    throw new Error(`computeRetrievalMetrics: \`excludeSelf\` must be true, false or 'same-index' (got ${String(mode)})`);
  }
  const exclude = mode === 'same-index' ? sameMemory(queries.embeddings, index.embeddings) && nq === ni : mode;
  if (exclude && nq !== ni) {
    throw new Error(`computeRetrievalMetrics: \`excludeSelf: true\` needs as many queries as index items (got ${nq} and ${ni})`);
  }

  // Labels become small ints; String() so that 3 and "3" are the same class in queries and index.
  const ids = new Map<string, number>();
  const toIds = (labels: ReadonlyArray<string | number>): Int32Array =>
    Int32Array.from(labels, (l) => {
      const key = String(l);
      let id = ids.get(key);
      if (id === undefined) ids.set(key, (id = ids.size));
      return id;
    });
  const qLabels = toIds(queries.labels);
  const iLabels = toIds(index.labels);

  const q = normalizedRows('queries', queries.embeddings, nq, dim);
  const x = exclude ? q : normalizedRows('index', index.embeddings, ni, dim);
  const candidates = exclude ? ni - 1 : ni;

  const rel = new Float32Array(ni);
  const irr = new Float32Array(ni);
  // Ideal DCG for R relevant items: prefix sums of 1 / log2(r + 1), r = 1..k.
  const idealDcg = new Float64Array(k + 1);
  for (let r = 1; r <= k; r++) idealDcg[r] = idealDcg[r - 1]! + 1 / Math.log2(r + 1);

  const scores = new Float32Array(BLOCK * ni);
  let sumPrecision = 0, sumRecall = 0, sumHit = 0, sumRR = 0, sumNdcg = 0, sumAP = 0, skipped = 0;
  for (let qi = 0; qi < nq; qi++) {
    const row = qi % BLOCK;
    if (row === 0) scoreBlock(q, qi, Math.min(BLOCK, nq - qi), x, ni, dim, scores);
    const label = qLabels[qi]!;
    let nRel = 0;
    let nIrr = 0;
    for (let j = 0, off = row * ni; j < ni; j++) {
      if (exclude && j === qi) continue;
      const score = scores[off + j]!;
      if (iLabels[j] === label) rel[nRel++] = score;
      else irr[nIrr++] = score;
    }
    if (nRel === 0) {
      skipped++;
      continue;
    }
    const relSorted = rel.subarray(0, nRel).sort(); // ascending; walked from the end
    const irrSorted = irr.subarray(0, nIrr).sort();

    let ahead = 0; // irrelevant items ranked before the current relevant one
    let hits = 0, dcg = 0, ap = 0, firstRank = 0;
    for (let i = 1; i <= nRel; i++) {
      const s = relSorted[nRel - i]!;
      while (ahead < nIrr && irrSorted[nIrr - 1 - ahead]! >= s) ahead++;
      const rank = i + ahead;
      if (i === 1) firstRank = rank;
      ap += i / rank;
      if (rank <= k) {
        hits++;
        dcg += 1 / Math.log2(rank + 1);
      }
    }
    sumPrecision += hits / Math.min(k, candidates);
    sumRecall += hits / nRel;
    sumHit += firstRank <= k ? 1 : 0;
    sumRR += 1 / firstRank;
    sumNdcg += dcg / idealDcg[Math.min(nRel, k)]!;
    sumAP += ap / nRel;
  }

  const n = nq - skipped;
  const mean = (sum: number): number => (n > 0 ? sum / n : 0);
  return {
    k,
    precisionAtK: mean(sumPrecision),
    recallAtK: mean(sumRecall),
    hitAtK: mean(sumHit),
    mrr: mean(sumRR),
    ndcgAtK: mean(sumNdcg),
    map: mean(sumAP),
    queries: nq,
    skippedQueries: skipped,
    excludedSelf: exclude,
  };
}
