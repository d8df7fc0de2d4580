// Length-sorted batching for text encoding: texts of similar token length go in the same batch, so
// each batch is padded to little more than its own texts (a batch is padded to its longest row), and the
// results are put back in the caller's order afterwards.

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
  const sign = order === 'ascending' ? 1 : -1;
  const indices = Array.from({ length: lengths.length }, (_, i) => i);
  indices.sort((a, b) => sign * (lengths[a]! - lengths[b]!) || a - b);
  const batches: number[][] = [];
  for (let i = 0; i < indices.length; i += batchSize) batches.push(indices.slice(i, i + batchSize));
  return batches;
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
