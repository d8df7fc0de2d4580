// Length-sorted batching for text encoding: texts of similar token length go in the same batch, so
// each batch is padded to little more than its own texts (a batch is padded to its longest row), and the
// results are put back in the caller's order afterwards.

/** Indices of `lengths` sorted by length, ties in input order (so every use is deterministic). */
export function indicesByLength(lengths: ArrayLike<number>, order: 'descending' | 'ascending' = 'descending'): number[] {
  const sign = order === 'ascending' ? 1 : -1;
  const indices = Array.from({ length: lengths.length }, (_, i) => i);
  indices.sort((a, b) => sign * (lengths[a]! - lengths[b]!) || a - b);
  return indices;
}

/**
 * Indices of `lengths` sorted by length (longest first by default, so a batch that does not fit in
 * memory fails at once rather than at the end), cut into batches of `batchSize`. Ties keep input order,
 * so the result is deterministic.
 */
export function lengthSortedBatches(
  lengths: ArrayLike<number>,
  batchSize: number,
  order: 'descending' | 'ascending' = 'descending',
): number[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`option \`batchSize\` must be a positive integer (got ${batchSize})`);
  const indices = indicesByLength(lengths, order);
  const batches: number[][] = [];
  for (let i = 0; i < indices.length; i += batchSize) batches.push(indices.slice(i, i + batchSize));
  return batches;
}

export interface SimilarLengthLimits {
  /** Rows of the batch, at most. */
  maxRows: number;
  /** Rows x padded length, at most (the first text alone may exceed it: it is always taken). */
  maxTokens: number;
  /**
   * Padding of any row, at most, as a share of the padded length (default 0.5: every text is at least
   * half the longest)...
   */
  maxPaddingShare?: number;
  /** ...or in tokens (default 16): a few pad tokens cost less than another native call. */
  paddingSlack?: number;
}

/**
 * The next batch of a queue of texts whose token lengths are `lengths`, oldest first (the dynamic
 * batcher's text queue): the oldest text (index 0) is always in it, so none waits forever, and the others
 * are taken by length closest to it (a window of the length-sorted queue grown on either side) while the
 * batch stays within `maxRows` and `maxTokens` and no row is padded by more than the padding limits.
 * Queued short and long texts so end up in different batches. Returns queue indices in queue order.
 */
export function similarLengthBatch(lengths: ArrayLike<number>, limits: SimilarLengthLimits): number[] {
  if (lengths.length === 0) return [];
  const share = limits.maxPaddingShare ?? 0.5;
  const slack = limits.paddingSlack ?? 16;
  const sorted = indicesByLength(lengths, 'ascending');
  const anchor = lengths[0]!;
  let lo = sorted.indexOf(0);
  let hi = lo;
  let rows = 1;
  // Whether the texts at sorted positions `from`..`to` make a batch within the limits.
  const fits = (from: number, to: number): boolean => {
    const shortest = lengths[sorted[from]!]!;
    const longest = lengths[sorted[to]!]!;
    return rows + 1 <= limits.maxRows && (rows + 1) * longest <= limits.maxTokens && longest - shortest <= Math.max(slack, share * longest);
  };
  // A side that fails once stays closed: further texts that way are shorter (more padding) or longer
  // (more padding and more tokens).
  let leftOpen = lo > 0;
  let rightOpen = hi < sorted.length - 1;
  while (leftOpen || rightOpen) {
    const left = leftOpen ? anchor - lengths[sorted[lo - 1]!]! : Infinity;
    const right = rightOpen ? lengths[sorted[hi + 1]!]! - anchor : Infinity;
    if (left <= right) {
      if (fits(lo - 1, hi)) {
        rows++;
        leftOpen = --lo > 0;
      } else {
        leftOpen = false;
      }
    } else if (fits(lo, hi + 1)) {
      rows++;
      rightOpen = ++hi < sorted.length - 1;
    } else {
      rightOpen = false;
    }
  }
  return sorted.slice(lo, hi + 1).sort((a, b) => a - b);
}

/**
 * Copies the rows of one batch's result (`rows` x `dim` floats, row r belonging to input `indices[r]`)
 * into their places in `target` (inputs x `dim`, the caller's order).
 */
export function scatterRows(target: Float32Array, batch: Float32Array, indices: readonly number[], dim: number): void {
  if (batch.length !== indices.length * dim) {
    throw new Error(`scatterRows: the batch has ${batch.length} values, expected ${indices.length} rows x ${dim}`);
  }
  indices.forEach((dst, r) => {
    if (!Number.isInteger(dst) || dst < 0 || (dst + 1) * dim > target.length) {
      throw new Error(`scatterRows: row index ${dst} is outside the ${target.length / dim} target rows`);
    }
    target.set(batch.subarray(r * dim, (r + 1) * dim), dst * dim);
  });
}

/** Puts per-batch results back in input order: `results[b][r]` belongs to input `batches[b][r]`. */
export function restoreOrder<T>(results: ReadonlyArray<readonly T[]>, batches: ReadonlyArray<readonly number[]>): T[] {
  const total = batches.reduce((n, b) => n + b.length, 0);
  const out = new Array<T>(total);
  const seen = new Uint8Array(total);
  batches.forEach((batch, b) => {
    const res = results[b];
    if (!res || res.length !== batch.length) {
      throw new Error(`restoreOrder: batch ${b} has ${res?.length ?? 0} results for ${batch.length} inputs`);
    }
    batch.forEach((dst, r) => {
      if (dst < 0 || dst >= total || seen[dst]) throw new Error(`restoreOrder: input index ${dst} is out of range or repeated`);
      seen[dst] = 1;
      out[dst] = res[r]!;
    });
  });
  return out;
}
