// Retrieval metrics for embeddings: each query ranks the index by cosine similarity, and an index item is
// relevant to a query when it has the same label.
//
// Definitions (per query, then averaged over the queries that have at least one relevant item; queries
// with none are counted in `skippedQueries` and left out, since no ranking can be judged for them):
// - precision@k = relevant items in the top k / min(k, candidates)
// - recall@k    = relevant items in the top k / relevant items in the index
// - hit@k       = 1 when a relevant item is in the top k, else 0
// - MRR         = 1 / rank of the first relevant item, over the full ranking (not cut at k)
// - nDCG@k      = DCG@k / ideal DCG@k, binary relevance, gain 1 / log2(rank + 1)
// - mAP         = mean over queries of average precision over the FULL ranking: the mean, over every
//                 relevant item, of the precision at its rank (not cut at k)
// Ties: an irrelevant item with the same score as a relevant one ranks before it (pessimistic), so a model
// that maps everything to one vector scores at the bottom rather than by the order of the index.
//
// How: in LibTorch on the compute thread (native/retrieval_metrics_worker.h). Scores come a block of
// queries at a time (a matrix product; one block is at most 256 MB whatever the index size), then every
// query of the block is ranked in parallel from the ranks of its relevant items alone: the relevant scores
// are sorted, and each irrelevant score finds by binary search how many of them it outranks. O(N log R)
// per query for N index items and R relevant ones, never a full sort. The native side returns sums; the
// means are taken here. The JavaScript implementation this replaced is the reference the tests and
// `npm run bench -- evaluate` compare with (test/reference/retrievalMetricsJs.ts).

import { loadBinding } from './addonLoader.js';
import { checkNumber } from './numericOption.js';
import { OPTION_RANGES } from './optionRanges.js';
import { checkSearchPrecision, type SearchPrecision } from './search.js';

export interface EmbeddingSet {
  /** count * dim floats, row-major. Need not be normalised: rows are normalised here. */
  embeddings: Float32Array;
  labels: ReadonlyArray<string> | ReadonlyArray<number>;
}

export interface RetrievalMetricsOptions {
  queries: EmbeddingSet;
  index: EmbeddingSet;
  dim: number;
  k: number;
  /**
   * Leave out of query i's ranking the index item at position i (the query itself).
   * 'same-index' (default): only when queries and index are the same set (same embeddings array or the
   * same memory); true: always (queries and index must have the same count); false: never.
   */
  excludeSelf?: boolean | 'same-index';
  /**
   * 'bf16': embeddings rounded to bfloat16 before scoring (products still summed in float32), as for a
   * model that runs in bf16. Default 'fp32'.
   */
  precision?: SearchPrecision;
}

export interface RetrievalMetrics {
  k: number;
  precisionAtK: number;
  recallAtK: number;
  hitAtK: number;
  mrr: number;
  ndcgAtK: number;
  /** Mean average precision over the full ranking. */
  map: number;
  /** Number of queries. */
  queries: number;
  /** Queries left out of the averages because the index holds nothing relevant to them. */
  skippedQueries: number;
  /** Whether each query's own position was left out of its ranking. */
  excludedSelf: boolean;
}

/** RetrievalMetrics with hit@1 beside hit@k (CLIP's image-to-text zero-shot accuracy), from the same pass. */
export type RetrievalMetricsWithHitAt1 = RetrievalMetrics & { hitAt1: number };

const CALLER = 'computeRetrievalMetrics';

function checkSet(name: string, set: EmbeddingSet, dim: number): number {
  if (!set || !(set.embeddings instanceof Float32Array)) throw new TypeError(`${CALLER}: \`${name}.embeddings\` must be a Float32Array`);
  if (!Array.isArray(set.labels)) throw new TypeError(`${CALLER}: \`${name}.labels\` must be an array`);
  const count = set.labels.length;
  if (set.embeddings.length !== count * dim) {
    throw new RangeError(
      `${CALLER}: \`${name}.embeddings\` has ${set.embeddings.length} floats, expected ` +
        `${name}.labels.length * dim = ${count} * ${dim} = ${count * dim}`,
    );
  }
  return count;
}

function sameMemory(a: Float32Array, b: Float32Array): boolean {
  return a === b || (a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.length === b.length);
}

/** Cosine-similarity retrieval metrics of `queries` against `index`; see the definitions at the top of this file. */
export async function computeRetrievalMetrics(options: RetrievalMetricsOptions): Promise<RetrievalMetrics> {
  const { hitAt1: _, ...metrics } = await retrievalMetricsWithHitAt1(options);
  return metrics;
}

/** computeRetrievalMetrics, with hit@1 as well. */
export async function retrievalMetricsWithHitAt1(options: RetrievalMetricsOptions): Promise<RetrievalMetricsWithHitAt1> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${CALLER}: options { queries, index, dim, k } are required`);
  const { queries, index } = options;
  const dim = checkNumber(options.dim, 'dim', OPTION_RANGES.dim);
  const k = checkNumber(options.k, 'k', OPTION_RANGES.k);
  const precision = checkSearchPrecision(options.precision, CALLER);
  const nq = checkSet('queries', queries, dim);
  const ni = checkSet('index', index, dim);
  if (ni === 0) throw new RangeError(`${CALLER}: \`index\` is empty`);

  const mode = options.excludeSelf ?? 'same-index';
  if (mode !== true && mode !== false && mode !== 'same-index') {
    throw new TypeError(`${CALLER}: \`excludeSelf\` must be true, false or 'same-index' (got ${String(mode)})`);
  }
  const same = sameMemory(queries.embeddings, index.embeddings) && nq === ni;
  const exclude = mode === 'same-index' ? same : mode;
  if (exclude && nq !== ni) {
    throw new RangeError(`${CALLER}: \`excludeSelf: true\` needs as many queries as index items (got ${nq} and ${ni})`);
  }

  // Labels become int32 ids; String() so that 3 and "3" are the same class in queries and index.
  const ids = new Map<string, number>();
  const toIds = (labels: ReadonlyArray<string | number>): Int32Array =>
    Int32Array.from(labels, (l) => {
      const key = String(l);
      let id = ids.get(key);
      if (id === undefined) ids.set(key, (id = ids.size));
      return id;
    });
  const queryLabels = toIds(queries.labels);
  const indexLabels = toIds(index.labels);
  // The same embeddings and labels: the native side copies and normalises them once.
  const selfIndex = same && queryLabels.every((label, i) => label === indexLabels[i]);

  const sums = await loadBinding().retrievalMetrics(
    queries.embeddings, queryLabels, selfIndex ? null : index.embeddings, selfIndex ? null : indexLabels, dim, k,
    { excludeSelf: exclude, precision },
  );
  const judged = sums.queries - sums.skippedQueries;
  const mean = (sum: number): number => (judged > 0 ? sum / judged : 0);
  return {
    k,
    precisionAtK: mean(sums.precision),
    recallAtK: mean(sums.recall),
    hitAtK: mean(sums.hit),
    mrr: mean(sums.reciprocalRank),
    ndcgAtK: mean(sums.ndcg),
    map: mean(sums.averagePrecision),
    queries: sums.queries,
    skippedQueries: sums.skippedQueries,
    excludedSelf: exclude,
    hitAt1: mean(sums.hitAt1),
  };
}
