// evaluate(model, { queries, index, k }): encodes queries and index and scores retrieval.
//   images / labelled texts: an index item is relevant to a query when it has the same label; without an
//     index, the queries search each other (each query left out of its own ranking).
//   text pairs (query, document): each distinct query searches all documents; the documents of its own
//     rows are the relevant ones.
//   CLIP, text-image pairs: text-to-image (each distinct text searches every row's image; the images of
//     its own rows are relevant) and image-to-text (each row's image searches the distinct texts; its
//     row's text is relevant), the latter in `imageToText`.
import { readTextData, type TextDataInput } from './data/textCsv.js';
import { readTextImageData, type TextImageInput } from './data/textImageCsv.js';
import { computeRetrievalMetrics, type RetrievalMetrics } from './metrics.js';
import { readLabelledInput, type LabelledInput } from './labelledData.js';
import type { EmbeddingModel, EncodeOptions } from './model.js';

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

async function evaluateTextImage(model: EmbeddingModel, options: EvaluateOptions, k: number): Promise<EvaluationResult> {
  if (options.index !== undefined) throw new Error("option 'index' does not apply to text-image pairs: the pairs' images (and texts) are the index");
  const data = await readTextImageData(options.queries as string | TextImageInput, 'queries');
  const { ids, firstRows } = groupIds(data.pairs.map((pair) => pair.text));
  const texts = await model.encodeText(firstRows.map((row) => data.pairs[row]!.text), { batchSize: options.batchSize });
  const images = await model.encodeImage(data.pairs.map((pair) => pair.image), options);
  const textGroups = firstRows.map((row) => ids[row]!);
  const imageGroups = Array.from(ids);
  const textToImage = computeRetrievalMetrics({
    queries: { embeddings: texts.data, labels: textGroups },
    index: { embeddings: images.data, labels: imageGroups },
    dim: texts.dim,
    k,
    excludeSelf: false,
  });
  const imageQueries = {
    queries: { embeddings: images.data, labels: imageGroups },
    index: { embeddings: texts.data, labels: textGroups },
    dim: texts.dim,
    excludeSelf: false,
  };
  const imageToText = computeRetrievalMetrics({ ...imageQueries, k });
  const hitAt1 = computeRetrievalMetrics({ ...imageQueries, k: 1 }).hitAtK;
  return { ...textToImage, imageToText: { ...imageToText, hitAt1 } };
}

interface LabelledSet {
  inputs: readonly unknown[];
  labels: string[];
}

async function labelledSet(model: EmbeddingModel, input: EvaluateOptions['queries'], option: string): Promise<LabelledSet | { pairs: { query: string; document: string }[]; groups: Int32Array }> {
  if (model.modality === 'image') {
    const data = await readLabelledInput(input as LabelledInput, option);
    return { inputs: data.items.map((item) => item.image), labels: data.items.map((item) => item.label) };
  }
  const data = await readTextData(input as string | TextDataInput, option);
  if (data.kind === 'labelled') return { inputs: data.items.map((item) => item.text), labels: data.items.map((item) => item.label) };
  if (data.kind === 'pairs') return { pairs: data.pairs, groups: data.groups };
  throw new Error(`option '${option}': scored pairs have no relevant items to rank; evaluate with labelled texts or query-document pairs`);
}

export async function evaluate(model: EmbeddingModel, options: EvaluateOptions): Promise<EvaluationResult> {
  const k = options.k ?? 10;
  if (!Number.isInteger(k) || k < 1) throw new TypeError(`option 'k' must be a positive integer, got ${JSON.stringify(options.k)}`);
  if (model.modality === 'text-image') return evaluateTextImage(model, options, k);
  const encode = (inputs: readonly unknown[]) => model.encode(inputs as string[], options);
  const queries = await labelledSet(model, options.queries, 'queries');
  if ('pairs' in queries) {
    if (options.index !== undefined) throw new Error("option 'index' does not apply to query-document pairs: the pairs' documents are the index");
    // One query per group (its first row); the index holds every row's document, labelled by its group.
    const firstRow = new Map<number, number>();
    queries.groups.forEach((group, row) => firstRow.has(group) || firstRow.set(group, row));
    const queryRows = [...firstRow.values()];
    const queryEmbeddings = await encode(queryRows.map((row) => queries.pairs[row]!.query));
    const documentEmbeddings = await encode(queries.pairs.map((pair) => pair.document));
    return computeRetrievalMetrics({
      queries: { embeddings: queryEmbeddings.data, labels: queryRows.map((row) => queries.groups[row]!) },
      index: { embeddings: documentEmbeddings.data, labels: Array.from(queries.groups) },
      dim: queryEmbeddings.dim,
      k,
      excludeSelf: false,
    });
  }
  const queryEmbeddings = await encode(queries.inputs);
  if (options.index === undefined) {
    return computeRetrievalMetrics({
      queries: { embeddings: queryEmbeddings.data, labels: queries.labels },
      index: { embeddings: queryEmbeddings.data, labels: queries.labels },
      dim: queryEmbeddings.dim,
      k,
      excludeSelf: true,
    });
  }
  const index = await labelledSet(model, options.index, 'index');
  if ('pairs' in index) throw new Error("option 'index' must hold labelled items, not pairs");
  const indexEmbeddings = await encode(index.inputs);
  return computeRetrievalMetrics({
    queries: { embeddings: queryEmbeddings.data, labels: queries.labels },
    index: { embeddings: indexEmbeddings.data, labels: index.labels },
    dim: queryEmbeddings.dim,
    k,
    excludeSelf: false,
  });
}
