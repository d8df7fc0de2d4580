// Evaluation of scored text pairs (text, text, score), as sentence-transformers' EmbeddingSimilarityEvaluator:
// both columns are encoded, each pair's cosine similarity is compared with its gold score, and the
// agreement is Spearman's rank correlation (the usual headline, e.g. STS benchmarks) and Pearson's r.
// Nothing is ranked, so there is no k and no index.
import { pearson, rowCosines, spearman } from '../correlation.js';
import type { ScoredPair } from '../data/textCsv.js';
import type { Embeddings } from '../encodePipeline.js';
import type { SimilarityMetrics } from '../evaluate.js';

type Encode = (inputs: readonly unknown[]) => Promise<Embeddings>;

export async function scoredPairSimilarity(encode: Encode, pairs: readonly ScoredPair[]): Promise<SimilarityMetrics> {
  const first = await encode(pairs.map((pair) => pair.a));
  const second = await encode(pairs.map((pair) => pair.b));
  const cosines = rowCosines(first.data, second.data, first.dim);
  const scores = Float64Array.from(pairs, (pair) => pair.score);
  return { spearman: spearman(cosines, scores), pearson: pearson(cosines, scores), pairs: pairs.length };
}
