// evaluate(model, { queries, index, k }): encodes queries and index and scores retrieval. What the data
// is and how it is scored depends on the model's modality (lib/modalities/; the evaluations themselves
// are in lib/modalities/retrieval.ts):
//   images / labelled texts: an index item is relevant to a query when it has the same label; without an
//     index, the queries search each other (each query left out of its own ranking).
//   text pairs (query, document): each distinct query searches all documents; the documents of its own
//     rows are the relevant ones.
//   CLIP, text-image pairs: text-to-image, and image-to-text in `imageToText`.
import type { TextDataInput } from './data/textCsv.js';
import type { TextImageInput } from './data/textImageCsv.js';
import type { RetrievalMetrics } from './metrics.js';
import type { LabelledInput } from './labelledData.js';
import { modalityNamed } from './modalities/index.js';
import type { EmbeddingModel, EncodeOptions } from './model.js';
import { numberOr } from './numericOption.js';
import { OPTION_RANGES } from './optionRanges.js';

export interface EvaluateOptions {
  /** Labelled items (CSV path or array of { image, label } / { text, label }), or text pairs. */
  queries: LabelledInput | string | TextDataInput | TextImageInput;
  /** Labelled index items; default: the queries themselves, each query left out of its own ranking. */
  index?: LabelledInput | string | TextDataInput;
  /** Cut-off of the @k metrics. Default 10. */
  k?: number;
  batchSize?: number;
  onProgress?: EncodeOptions['onProgress'];
}

export type { RetrievalMetrics };

/** Text-to-image metrics at the top level; CLIP's image-to-text metrics beside them. */
export type EvaluationResult = RetrievalMetrics & { imageToText?: ImageToTextMetrics };

/** Image-to-text metrics, plus the share of images whose best text is a relevant one (hit@1: with one
 * prompt per class, zero-shot classification accuracy). */
export type ImageToTextMetrics = RetrievalMetrics & { hitAt1: number };

export async function evaluate(model: EmbeddingModel, options: EvaluateOptions): Promise<EvaluationResult> {
  const k = numberOr(options.k, 'k', OPTION_RANGES.k, 10);
  return modalityNamed(model.modality).evaluate(model, options, k);
}
