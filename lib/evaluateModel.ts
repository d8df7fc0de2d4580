// evaluate(model, { queries, index, k }): encodes labelled queries and index and scores retrieval.
import { computeRetrievalMetrics, type RetrievalMetrics } from './evaluate.js';
import { readLabelledInput, type LabelledInput } from './labelledData.js';
import type { EmbeddingModel, EncodeOptions } from './model.js';

export interface EvaluateOptions {
  /** Labelled query items (CSV path or array of { image, label }). */
  queries: LabelledInput;
  /** Labelled index items; default: the queries themselves, each query left out of its own ranking. */
  index?: LabelledInput;
  /** Cut-off of the @k metrics. Default 10. */
  k?: number;
  batchSize?: number;
  onProgress?: EncodeOptions['onProgress'];
}

export type { RetrievalMetrics };

export async function evaluate(model: EmbeddingModel, options: EvaluateOptions): Promise<RetrievalMetrics> {
  const k = options.k ?? 10;
  if (!Number.isInteger(k) || k < 1) throw new TypeError(`option 'k' must be a positive integer, got ${JSON.stringify(options.k)}`);
  const queries = await readLabelledInput(options.queries, 'queries');
  const queryEmbeddings = await model.encode(queries.items.map((item) => item.image), options);
  const queryLabels = queries.items.map((item) => item.label);
  if (options.index === undefined) {
    return computeRetrievalMetrics({
      queries: { embeddings: queryEmbeddings.data, labels: queryLabels },
      index: { embeddings: queryEmbeddings.data, labels: queryLabels },
      dim: queryEmbeddings.dim,
      k,
      excludeSelf: true,
    });
  }
  const index = await readLabelledInput(options.index, 'index');
  const indexEmbeddings = await model.encode(index.items.map((item) => item.image), options);
  return computeRetrievalMetrics({
    queries: { embeddings: queryEmbeddings.data, labels: queryLabels },
    index: { embeddings: indexEmbeddings.data, labels: index.items.map((item) => item.label) },
    dim: queryEmbeddings.dim,
    k,
    excludeSelf: false,
  });
}
