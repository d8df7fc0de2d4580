// Correlation of predicted and gold similarity scores, for evaluating a model on scored pairs as
// sentence-transformers' EmbeddingSimilarityEvaluator does: the cosine similarity of each pair's two
// embeddings against the pair's score, as Pearson's r and Spearman's rho (ties get their average rank,
// as scipy.stats.spearmanr).

/** Pearson's correlation coefficient of two equally long series; NaN when either is constant. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n !== y.length) throw new RangeError(`pearson: series of ${n} and ${y.length} values`);
  if (n < 2) return Number.NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? Number.NaN : sxy / Math.sqrt(sxx * syy);
}

/** 1-based ranks, ties sharing the average of the ranks they span. */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const ranks = new Float64Array(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && values[order[end]!] === values[order[start]!]) end++;
    const rank = (start + 1 + end) / 2; // mean of start+1 .. end
    for (let k = start; k < end; k++) ranks[order[k]!] = rank;
    start = end;
  }
  return ranks;
}

/** Spearman's rank correlation: Pearson's r of the average ranks. */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new RangeError(`spearman: series of ${x.length} and ${y.length} values`);
  return pearson(averageRanks(x), averageRanks(y));
}

/** Cosine similarity of row i of `a` and row i of `b` (rows of width `dim`), for every row. */
export function rowCosines(a: Float32Array, b: Float32Array, dim: number): Float64Array {
  const rows = a.length / dim;
  if (a.length !== b.length || !Number.isInteger(rows)) throw new RangeError('rowCosines: the two matrices differ in shape');
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let d = r * dim; d < (r + 1) * dim; d++) {
      dot += a[d]! * b[d]!;
      na += a[d]! * a[d]!;
      nb += b[d]! * b[d]!;
    }
    out[r] = na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
  }
  return out;
}
