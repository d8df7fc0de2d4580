// The retrieval evaluations the modalities are scored with (evaluate() picks by the model's modality):
//   labelled items (images or texts): an index item is relevant to a query when it has the same label;
//     without an index, the queries search each other (each query left out of its own ranking).
//   query-document pairs: each distinct query searches all documents; its own rows' documents are relevant.
//   text-image pairs (CLIP): text-to-image (each distinct text searches every row's image; the images of
//     its own rows are relevant) and image-to-text (each row's image searches the distinct texts; its
//     row's text is relevant), the latter in `imageToText`.
//   Scoring runs natively (lib/metrics.ts) in the model's precision: bf16 models are scored on bf16-rounded
//   embeddings (searchPrecisionOf).
import { computeRetrievalMetrics, retrievalMetricsWithHitAt1 } from '../metrics.js';
import type { SearchPrecision } from '../search.js';
import type { Embeddings } from '../encodePipeline.js';
import type { RetrievalEvaluation } from '../evaluate.js';
import type { TextImageData } from '../data/textImageCsv.js';

export interface LabelledSet {
  inputs: readonly unknown[];
  labels: string[];
}

export interface PairSet {
  pairs: readonly { query: string; document: string }[];
  groups: Int32Array;
}

type Encode = (inputs: readonly unknown[]) => Promise<Embeddings>;

/** How a model's embeddings are scored: 'bf16' when it runs in bf16, else 'fp32' (fp16 rows are scored in float32). */
export function searchPrecisionOf(model: { readonly precision: string }): SearchPrecision {
  return model.precision === 'bf16' ? 'bf16' : 'fp32';
}

/** Labelled queries against a labelled index, or against themselves without one. */
export async function labelledRetrieval(encode: Encode, queries: LabelledSet, readIndex: (() => Promise<LabelledSet>) | undefined, k: number, precision: SearchPrecision): Promise<RetrievalEvaluation> {
  const queryEmbeddings = await encode(queries.inputs);
  if (readIndex === undefined) {
    return await computeRetrievalMetrics({
      queries: { embeddings: queryEmbeddings.data, labels: queries.labels },
      index: { embeddings: queryEmbeddings.data, labels: queries.labels },
      dim: queryEmbeddings.dim,
      k,
      excludeSelf: true,
    });
  }
  const index = await readIndex();
  const indexEmbeddings = await encode(index.inputs);
  return await computeRetrievalMetrics({
    queries: { embeddings: queryEmbeddings.data, labels: queries.labels },
    index: { embeddings: indexEmbeddings.data, labels: index.labels },
    dim: queryEmbeddings.dim,
    k,
    precision,
    excludeSelf: false,
  });
}

/** One query per group (its first row); the index holds every row's document, labelled by its group. */
export async function pairRetrieval(encode: Encode, data: PairSet, k: number, precision: SearchPrecision): Promise<RetrievalEvaluation> {
  const firstRow = new Map<number, number>();
  data.groups.forEach((group, row) => firstRow.has(group) || firstRow.set(group, row));
  const queryRows = [...firstRow.values()];
  const queryEmbeddings = await encode(queryRows.map((row) => data.pairs[row]!.query));
  const documentEmbeddings = await encode(data.pairs.map((pair) => pair.document));
  return await computeRetrievalMetrics({
    queries: { embeddings: queryEmbeddings.data, labels: queryRows.map((row) => data.groups[row]!) },
    index: { embeddings: documentEmbeddings.data, labels: Array.from(data.groups) },
    dim: queryEmbeddings.dim,
    k,
    precision,
    excludeSelf: false,
  });
}

/** One id per distinct value, in order of first appearance. */
function groupIds(values: readonly string[]): { ids: Int32Array; firstRows: number[] } {
  const seen = new Map<string, number>();
  const firstRows: number[] = [];
  const ids = Int32Array.from(values, (value, row) => {
    let id = seen.get(value);
    if (id === undefined) {
      id = seen.size;
      seen.set(value, id);
      firstRows.push(row);
    }
    return id;
  });
  return { ids, firstRows };
}

/** Text-to-image metrics at the top level, image-to-text (with hit@1) in `imageToText`. */
export async function textImageRetrieval(encodeTexts: Encode, encodeImages: Encode, data: TextImageData, k: number, precision: SearchPrecision): Promise<RetrievalEvaluation> {
  const { ids, firstRows } = groupIds(data.pairs.map((pair) => pair.text));
  const texts = await encodeTexts(firstRows.map((row) => data.pairs[row]!.text));
  const images = await encodeImages(data.pairs.map((pair) => pair.image));
  const textGroups = firstRows.map((row) => ids[row]!);
  const imageGroups = Array.from(ids);
  const textToImage = await computeRetrievalMetrics({
    queries: { embeddings: texts.data, labels: textGroups },
    index: { embeddings: images.data, labels: imageGroups },
    dim: texts.dim,
    k,
    precision,
    excludeSelf: false,
  });
  // hit@1 (zero-shot accuracy with one prompt per class) comes from the same pass.
  const imageToText = await retrievalMetricsWithHitAt1({
    queries: { embeddings: images.data, labels: imageGroups },
    index: { embeddings: texts.data, labels: textGroups },
    dim: texts.dim,
    k,
    precision,
    excludeSelf: false,
  });
  return { ...textToImage, imageToText };
}
