// Text models (task text-to-text): transformer encoders, token states -> pooling over the mask ->
// optional projection -> L2 norm. Texts are tokenized with the model's tokenizer.json in chunks that
// leave the event loop free; training and evaluation data is labelled texts, query-document pairs or
// scored pairs (evaluated by correlation rather than retrieval).
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { NativeBinding, NativeDevice, NativeEmbeddingModel, NativePooling } from '../binding.js';
import { normalizeTextData, readTextData, type MarginData, type ScoredPairData, type TextData, type TextDataInput, type TextPair, type TextPairData } from '../data/textCsv.js';
import { BatcherInputError, InputTooLongError } from '../batcherErrors.js';
import type { BatcherFormat, PreparedInput } from '../batcherLane.js';
import { batchError, describeValue, encodeArray, itemError, type ArrayJob } from '../encodePipeline.js';
import type { LoadModelOptions } from '../loadModel.js';
import type { BackboneMetadata, EmbeddingMetadata, TextBackboneMetadata } from '../metadata.js';
import { lengthSortedBatches, similarLengthBatch } from '../text/batching.js';
import type { TextTokenizer, TokenizedTexts } from '../text/tokenizer.js';
import { classSampler, textTask } from '../trainingTasks.js';
import type { EmbeddingModality, InputKindUnit } from './modality.js';
import { modelFileIn, baseMetadata, checkPooling, checkTrunkFreezing, readTokenizer, type ModelParts } from './modelParts.js';
import { checkNumber } from '../numericOption.js';
import { OPTION_RANGES } from '../optionRanges.js';
import { labelledRetrieval, pairRetrieval, searchPrecisionOf, type LabelledSet, type PairSet } from './retrieval.js';
import { scoredPairSimilarity } from './similarity.js';

/**
 * Tokenizes `texts` a chunk at a time, yielding to the event loop between chunks: tokenizing runs on
 * the main thread, and an encode that finishes meanwhile is only seen (and the next one started) at the
 * next yield. Errors name the text as `${source}[offset + i]`.
 */
export async function tokenizeInChunks(
  tokenizer: TextTokenizer,
  texts: readonly string[],
  options: { chunk: number; source: string; offset?: number; maxLength?: number },
): Promise<TokenizedTexts> {
  const offset = options.offset ?? 0;
  const result: TokenizedTexts = { ids: [], typeIds: [], truncatedMask: new Uint8Array(texts.length), truncated: 0 };
  for (let start = 0; start < texts.length; start += options.chunk) {
    if (start > 0) await yieldToEventLoop();
    const chunk = tokenizer.encode(texts.slice(start, start + options.chunk), { source: options.source, offset: offset + start, maxLength: options.maxLength });
    result.ids.push(...chunk.ids);
    result.typeIds.push(...chunk.typeIds);
    result.truncatedMask.set(chunk.truncatedMask, start);
    result.truncated += chunk.truncated;
  }
  return result;
}

// About a millisecond of tokenizing per chunk for a whole array (about 30 us a text)...
const ARRAY_CHUNK = 64;
// ...and a quarter of a millisecond for a stream batch, whose encode of the batch before runs meanwhile.
const STREAM_CHUNK = 8;

/** A text tokenized for the batcher's queue. */
interface QueuedText extends PreparedInput {
  ids: Int32Array;
  typeIds: Int32Array;
  truncated: number;
}

// Tokenizing without truncation, to tell how long a text is that must not be truncated.
const NO_TRUNCATION = Number.MAX_SAFE_INTEGER;

/** Why `text` cannot be encoded, or null. */
function textProblem(text: unknown): string | null {
  if (typeof text !== 'string') return `expected a string (a text), got ${describeValue(text)}`;
  if (text.trim() === '') return `empty text (${text === '' ? 'an empty string' : 'only whitespace'}); every text needs something to embed`;
  return null;
}

/** Texts as a kind of input: of text models, and of CLIP's text tower. */
export const textInput: InputKindUnit = {
  kind: 'text',
  plural: 'texts',
  arrayDescribed: 'strings',
  progressUnit: 'text',
  truncates: true,
  modelsLabel: 'text (transformer)',

  async prepareItems(model, items, start) {
    items.forEach((text, i) => {
      const problem = textProblem(text);
      if (problem) throw itemError(start + i, problem);
    });
    try {
      const tokenizer = model.tokenizer;
      const batch = tokenizer.collate(await tokenizeInChunks(tokenizer, items as string[], { chunk: STREAM_CHUNK, source: 'item', offset: start }));
      return { batch, truncated: batch.truncated };
    } catch (error) {
      throw batchError(start, items.length, error);
    }
  },

  // Batches of similar token length, so each is padded to little more than its own texts; rows go back
  // in input order.
  async encodeArray(model, inputs, batchSize, onBatch) {
    const tokenizer = model.tokenizer;
    const tokenized = await tokenizeInChunks(tokenizer, inputs as string[], { chunk: ARRAY_CHUNK, source: 'texts' });
    const jobs: ArrayJob[] = lengthSortedBatches(tokenized.ids.map((ids) => ids.length), batchSize).map((indices) => ({
      count: indices.length,
      indices,
      prepare: async () => {
        const batch = tokenizer.collate(tokenized, indices);
        return { batch, truncated: batch.truncated };
      },
    }));
    return (await encodeArray(model, inputs.length, jobs, onBatch)).data;
  },

  // The batcher's text queue: each request tokenized when it arrives (in chunks), batches of the oldest
  // queued text and those of the closest lengths, padded to their longest.
  batcherFormat(model, limits): BatcherFormat<QueuedText> {
    const tokenizer = model.tokenizer;
    return {
      async prepare(inputs, { truncate }) {
        inputs.forEach((text, i) => {
          const problem = textProblem(text);
          if (problem) throw new BatcherInputError(i, problem);
        });
        const maxLength = truncate ? undefined : NO_TRUNCATION;
        const tokenized = await tokenizeInChunks(tokenizer, inputs as string[], { chunk: ARRAY_CHUNK, source: 'input', maxLength });
        return tokenized.ids.map((ids, i) => {
          if (ids.length > tokenizer.maxLength) throw new InputTooLongError(i, ids.length, tokenizer.maxLength);
          return { ids, typeIds: tokenized.typeIds[i]!, truncated: tokenized.truncatedMask[i]!, length: ids.length };
        });
      },
      select: (queue) => similarLengthBatch(queue.map((text) => text.length), { maxRows: limits.maxBatchSize, maxTokens: limits.maxBatchTokens }),
      build(texts) {
        const batch = tokenizer.collate({
          ids: texts.map((text) => text.ids),
          typeIds: texts.map((text) => text.typeIds),
          truncatedMask: Uint8Array.from(texts, (text) => text.truncated),
          truncated: texts.reduce((n, text) => n + text.truncated, 0),
        });
        return { batch, paddedTokens: batch.rows * batch.length, tokens: texts.reduce((n, text) => n + text.length, 0) };
      },
    };
  },
};

const POOLINGS: readonly NativePooling[] = ['mean', 'cls', 'max'];

const TEXT_INPUTS = {
  encode_tokens: 'input_ids, attention_mask, token_type_ids: int tensors N x L (padded; mask 0 on padding)',
  forward: 'the same three tensors as int64',
} as const;

async function readTexts(input: unknown, option: string): Promise<TextData> {
  if (typeof input !== 'string' && !Array.isArray(input)) {
    throw new TypeError(`option '${option}' must be a CSV file path or an array of texts with labels, pairs or scored pairs`);
  }
  return readTextData(input as string | TextDataInput, option);
}

function positivePairs(data: MarginData): TextPair[] {
  return data.triples.map((triple) => ({ query: triple.query, document: triple.positive }));
}

/** Evaluation data: labelled texts and pairs are ranked (retrieval), scored pairs correlated (similarity). */
async function evaluationSet(input: unknown, option: string): Promise<LabelledSet | PairSet | ScoredPairData> {
  const data = await readTextData(input as string | TextDataInput, option);
  if (data.kind === 'labelled') return { inputs: data.items.map((item) => item.text), labels: data.items.map((item) => item.label) };
  if (data.kind === 'pairs') return { pairs: data.pairs, groups: data.groups };
  if (data.kind === 'margins') {
    // Distillation triples evaluate as their (query, positive) pairs.
    const pairs = normalizeTextData(positivePairs(data), 'pairs', { source: option }) as TextPairData;
    return { pairs: pairs.pairs, groups: pairs.groups };
  }
  return data;
}

export const textModality: EmbeddingModality = {
  name: 'text',
  task: 'text-to-text',
  described: 'a text',
  modelsLabel: 'text (transformer)',
  inputs: [textInput],
  poolings: POOLINGS,
  freezing: ['trunk', 'layers'],
  progressUnit: 'text',
  learnedTemperature: false,

  async build(binding: NativeBinding, root: string, meta: BackboneMetadata, device: NativeDevice, options: LoadModelOptions): Promise<ModelParts> {
    const backbone = meta as TextBackboneMetadata;
    if (options.imageSize !== undefined || options.gemP !== undefined) {
      throw new TypeError(`options 'imageSize' and 'gemP' are for image models; ${backbone.name} is a text model`);
    }
    const pooling = checkPooling(options.pooling ?? backbone.pooling, POOLINGS);
    const tokenizer = await readTokenizer(root, backbone.text.tokenizer, backbone.text.vocabSize, options.maxLength ?? backbone.text.maxLength);
    const normalize = options.normalize ?? true;
    const native = await binding.buildFromBackbone(await modelFileIn(root, backbone.model), {
      device,
      modality: 'text',
      pooling,
      embeddingDim: backbone.embeddingDim,
      outputDim: options.outputDim === undefined ? 0 : checkNumber(options.outputDim, 'outputDim', OPTION_RANGES.outputDim),
      normalize,
      seed: options.seed ?? 0,
    });
    const metadata: EmbeddingMetadata = {
      ...baseMetadata(backbone, native, pooling, normalize),
      text: { ...backbone.text, maxLength: tokenizer.maxLength },
      inputs: TEXT_INPUTS,
    };
    return { native, metadata, tokenizer };
  },

  async restore(native: NativeEmbeddingModel, root: string, metadata: EmbeddingMetadata, options: LoadModelOptions): Promise<ModelParts> {
    const tokenizer = await readTokenizer(root, metadata.text?.tokenizer, metadata.text?.vocabSize ?? 0, options.maxLength ?? metadata.text?.maxLength);
    return { native, metadata: { ...metadata, modality: 'text', text: { ...metadata.text!, maxLength: tokenizer.maxLength } }, tokenizer };
  },

  readData: readTexts,
  lossKind: (data) => (data as TextData).kind,
  checkFreezing: (settings) => checkTrunkFreezing(settings, true),
  checkBatching(data, settings) {
    const texts = data as TextData;
    return texts.kind === 'labelled' && settings.sampler === 'class' ? classSampler(texts.labelIds, settings).adjustment : undefined;
  },
  classCount(data) {
    const texts = data as TextData;
    return texts.kind === 'labelled' ? texts.classes.length : undefined;
  },
  trainingTask: (model, data, settings) => textTask(model, data as TextData, settings),
  evaluationInput(data) {
    const texts = data as TextData;
    if (texts.kind === 'labelled') return texts.items;
    if (texts.kind === 'margins') return positivePairs(texts);
    return texts.pairs;
  },

  async evaluate(model, options, k) {
    const encode = (inputs: readonly unknown[]) => model.encode(inputs as string[], options);
    const queries = await evaluationSet(options.queries, 'queries');
    if ('kind' in queries) {
      if (options.index !== undefined) throw new Error("option 'index' does not apply to scored pairs: each pair's two texts are compared with each other");
      return scoredPairSimilarity(encode, queries.pairs);
    }
    if ('pairs' in queries) {
      if (options.index !== undefined) throw new Error("option 'index' does not apply to query-document pairs: the pairs' documents are the index");
      return pairRetrieval(encode, queries, k, searchPrecisionOf(model));
    }
    const readIndex = options.index === undefined ? undefined : async () => {
      const index = await evaluationSet(options.index, 'index');
      if (!('labels' in index)) throw new Error("option 'index' must hold labelled items, not pairs");
      return index;
    };
    return labelledRetrieval(encode, queries, readIndex, k, searchPrecisionOf(model));
  },
};
