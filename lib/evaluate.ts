// evaluate(model, { queries, index, k }): encodes queries and index and scores retrieval. What the data
// is and how it is scored depends on the model's modality (lib/modalities/; the evaluations themselves
// are in lib/modalities/retrieval.ts):
//   images / labelled texts: an index item is relevant to a query when it has the same label; without an
//     index, the queries search each other (each query left out of its own ranking).
//   text pairs (query, document): each distinct query searches all documents; the documents of its own
//     rows are the relevant ones.
//   CLIP, text-image pairs: text-to-image, and image-to-text in `imageToText`.
//   scored text pairs (text, text, score): no ranking; the cosine of each pair's two embeddings against
//     its score, as Spearman's and Pearson's correlation (sentence-transformers' EmbeddingSimilarityEvaluator).
import type { TextDataInput } from './data/textCsv.js';
import type { TextImageInput } from './data/textImageCsv.js';
import type { RetrievalMetrics } from './metrics.js';
import type { LabelledInput } from './labelledData.js';
import { modalityNamed } from './modalities/index.js';
import type { EmbeddingModel, EncodeOptions } from './model.js';
import { numberOr } from './numericOption.js';
import { OPTION_RANGES } from './optionRanges.js';

export interface EvaluateOptions {
  /** Labelled items (CSV path or array of { image, label } / { text, label }), text pairs, scored text pairs or text-image pairs. */
  queries: LabelledInput | string | TextDataInput | TextImageInput;
  /** Labelled index items; default: the queries themselves, each query left out of its own ranking. */
  index?: LabelledInput | string | TextDataInput;
  /** Cut-off of the @k metrics. Default 10. */
  k?: number;
  batchSize?: number;
  onProgress?: EncodeOptions['onProgress'];
}

export type { RetrievalMetrics };

/** Retrieval metrics (text-to-image for CLIP, its image-to-text metrics beside them), or for scored pairs the correlations. */
export type EvaluationResult = RetrievalEvaluation | SimilarityMetrics;

/** Text-to-image metrics at the top level; CLIP's image-to-text metrics beside them. */
export type RetrievalEvaluation = RetrievalMetrics & { imageToText?: ImageToTextMetrics };

/**
 * Scored pairs: how well the cosine similarity of each pair's embeddings follows its gold score, as
 * sentence-transformers' EmbeddingSimilarityEvaluator reports it (spearman_cosine, pearson_cosine).
 * NaN when the scores, or the cosines, are all equal.
 */
export interface SimilarityMetrics {
  /** Spearman's rank correlation of cosines and scores (ties share their average rank). */
  spearman: number;
  /** Pearson's correlation of cosines and scores. */
  pearson: number;
  /** Number of pairs scored. */
  pairs: number;
}

export function isSimilarityMetrics(result: EvaluationResult): result is SimilarityMetrics {
  return 'spearman' in result;
}

/** `result` as retrieval metrics, for callers that evaluated ranked data; an Error for scored pairs. */
export function retrievalOf(result: EvaluationResult): RetrievalEvaluation {
  if (isSimilarityMetrics(result)) throw new Error('expected retrieval metrics, but the data were scored pairs (spearman and pearson)');
  return result;
}

/**
 * The metrics of a result by name, for tables and the training report: 'precision@10', 'mrr', ...,
 * CLIP's image-to-text ones prefixed 'image-to-text ', or 'spearman' and 'pearson'.
 */
export function metricsByName(result: EvaluationResult): Record<string, number> {
  if (isSimilarityMetrics(result)) return { spearman: result.spearman, pearson: result.pearson };
  const retrieval = (m: RetrievalMetrics) => ({
    [`precision@${m.k}`]: m.precisionAtK,
    [`recall@${m.k}`]: m.recallAtK,
    [`hit@${m.k}`]: m.hitAtK,
    mrr: m.mrr,
    [`ndcg@${m.k}`]: m.ndcgAtK,
    map: m.map,
  });
  const metrics: Record<string, number> = retrieval(result);
  if (result.imageToText) {
    for (const [name, value] of Object.entries(retrieval(result.imageToText))) metrics[`image-to-text ${name}`] = value;
    metrics['image-to-text hit@1'] = result.imageToText.hitAt1;
  }
  return metrics;
}

/** Image-to-text metrics, plus the share of images whose best text is a relevant one (hit@1: with one
 * prompt per class, zero-shot classification accuracy). */
export type ImageToTextMetrics = RetrievalMetrics & { hitAt1: number };

export async function evaluate(model: EmbeddingModel, options: EvaluateOptions): Promise<EvaluationResult> {
  const k = numberOr(options.k, 'k', OPTION_RANGES.k, 10);
  return modalityNamed(model.modality).evaluate(model, options, k);
}
