// Exact top-k search by cosine similarity, in LibTorch on the compute thread (native/search_top_k_worker.h):
// a matrix product and torch::topk a block of queries at a time, so memory stays bounded (one block of
// scores is at most 256 MB) whatever the index size. The arguments are checked here and named; the
// native side copies both matrices when the call is made, so the caller may reuse them at once. To search
// the same rows again and again, EmbeddingIndex (lib/embeddingIndex.ts) holds them natively instead.
import { loadBinding } from './addonLoader.js';
import { checkNumber } from './numericOption.js';
import { OPTION_RANGES } from './optionRanges.js';

/**
 * 'fp32' (default): float32 throughout. 'bf16': queries and index rounded to bfloat16 (what a bf16 model
 * produces), products accumulated in float32, scores float32: the ranking a bf16 deployment sees.
 */
export type SearchPrecision = 'fp32' | 'bf16';

export const SEARCH_PRECISIONS: readonly SearchPrecision[] = ['fp32', 'bf16'];

export interface SearchOptions {
  /** Floats per row of both matrices. */
  dim: number;
  /** Results per query; more than the index holds is clamped (see SearchResult.k). */
  k: number;
  precision?: SearchPrecision;
}

/** rows x k, row-major, best first: `indices[q * k + i]` is the index row of query q's i-th hit. */
export interface SearchResult {
  indices: Int32Array;
  /** Cosine similarities, in [-1, 1]; a zero row scores 0 against everything. */
  scores: Float32Array;
  /** Number of queries. */
  rows: number;
  /** Hits per query: the k asked for, or the index size when that is smaller. */
  k: number;
}

/** `precision` when it is one of SEARCH_PRECISIONS (default 'fp32'); a TypeError naming `caller` otherwise. */
export function checkSearchPrecision(precision: unknown, caller: string): SearchPrecision {
  if (precision === undefined) return 'fp32';
  if (!SEARCH_PRECISIONS.includes(precision as SearchPrecision)) {
    throw new TypeError(`${caller}: option 'precision' must be ${SEARCH_PRECISIONS.map((p) => `'${p}'`).join(' or ')}, got ${JSON.stringify(precision) ?? String(precision)}`);
  }
  return precision as SearchPrecision;
}

/** Rows of a Float32Array of `dim`-wide rows; an Error naming `name` when it is not one. */
export function checkRows(caller: string, name: string, value: unknown, dim: number): number {
  if (!(value instanceof Float32Array)) throw new TypeError(`${caller}: \`${name}\` must be a Float32Array`);
  if (value.length % dim !== 0) {
    throw new RangeError(`${caller}: \`${name}\` has ${value.length} floats, not whole rows of dim = ${dim}`);
  }
  return value.length / dim;
}

/**
 * The `k` most similar index rows of each query row, by cosine similarity (rows are normalised here; they
 * need not be unit length). Rejects with an Error naming the argument: not a Float32Array, a length that is
 * not whole rows, an empty index, k or dim out of range, a row holding NaN or infinity (with its number).
 */
export async function searchTopK(queries: Float32Array, index: Float32Array, options: SearchOptions): Promise<SearchResult> {
  const caller = 'searchTopK';
  if (typeof options !== 'object' || options === null) throw new TypeError(`${caller}: options { dim, k } are required`);
  const dim = checkNumber(options.dim, 'dim', OPTION_RANGES.dim);
  const k = checkNumber(options.k, 'k', OPTION_RANGES.k);
  const precision = checkSearchPrecision(options.precision, caller);
  checkRows(caller, 'queries', queries, dim);
  if (checkRows(caller, 'index', index, dim) === 0) throw new RangeError(`${caller}: \`index\` is empty`);
  // k beyond int32 is clamped to the index size natively anyway.
  return loadBinding().searchTopK(queries, index, dim, Math.min(k, 2 ** 31 - 1), { precision });
}
