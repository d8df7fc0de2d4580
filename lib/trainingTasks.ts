// What one training step means for each kind of data. fit() drives the loop; a task says how an epoch is
// cut into batches, how a batch is prepared in JS (images decoded by sharp, texts tokenized) and which
// native step and loss consume it:
//   labelled images or texts -> class sampler -> TripletMarginLoss with a miner
//   (query, document[, negative]) pairs -> shuffled batches -> MultipleNegativesRankingLoss
//   (text, text, score) pairs -> shuffled batches -> CosineSimilarityLoss
//   (text, image) pairs on a CLIP model -> shuffled batches -> CLIPLoss (contrastive, learned temperature)
import type { NativeBatch, NativeImageBatch, NativeTrainStepResult } from './binding.js';
import type { LabelledData } from './data/csv.js';
import type { ImageInput } from './data/images.js';
import { ClassSampler, mulberry32 } from './data/sampler.js';
import type { LabelledTextData, ScoredPairData, TextData, TextPairData } from './data/textCsv.js';
import type { TextImageData } from './data/textImageCsv.js';
import type { EncodedBatch } from './text/tokenizer.js';
import type { EmbeddingModel } from './model.js';

export type Loss = 'TripletMarginLoss' | 'MultipleNegativesRankingLoss' | 'CosineSimilarityLoss' | 'CLIPLoss';

export interface TrainingTask<Prepared> {
  loss: Loss;
  batchesPerEpoch: number;
  batches(epoch: number): number[][];
  /** JS-side work for a batch (decode, tokenize); may run while the previous step trains. */
  prepare(indices: number[]): Promise<Prepared>;
  step(prepared: Prepared): Promise<NativeTrainStepResult>;
  /** Texts truncated to the model's maximum length in `prepared` (0 for images). */
  truncated(prepared: Prepared): number;
}

export interface BatchSettings {
  batchSize: number;
  numItemsPerClass: number;
  seed: number;
}

const LOSS_FOR_KIND: Record<TextData['kind'], Loss> = {
  labelled: 'TripletMarginLoss',
  pairs: 'MultipleNegativesRankingLoss',
  scored: 'CosineSimilarityLoss',
};

/** The loss a kind of data trains with; an explicit `loss` must match it. */
export function lossFor(kind: TextData['kind'] | 'images' | 'text-image', requested: Loss | undefined): Loss {
  const expected = kind === 'images' ? 'TripletMarginLoss' : kind === 'text-image' ? 'CLIPLoss' : LOSS_FOR_KIND[kind];
  if (requested !== undefined && requested !== expected) {
    const what = kind === 'images' ? 'labelled images' : kind === 'text-image' ? 'text-image pairs' : `${kind} data`;
    throw new TypeError(`option 'loss' is ${requested}, but ${what} trains with ${expected}`);
  }
  return expected;
}

function labelsOf(labelIds: Int32Array, indices: readonly number[]): Int32Array {
  return Int32Array.from(indices, (i) => labelIds[i]!);
}

/** Shuffled batches of rows, deterministic from (seed, epoch); the last partial batch is kept if >= 2. */
function shuffledBatches(rows: number, batchSize: number, seed: number, epoch: number): number[][] {
  const random = mulberry32(Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2d) ^ Math.imul(epoch + 1, 0x165667b1));
  const order = Array.from({ length: rows }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const batches: number[][] = [];
  for (let start = 0; start < rows; start += batchSize) {
    const batch = order.slice(start, start + batchSize);
    // In-batch negatives need company: a lone pair has nothing to rank against.
    if (batch.length >= 2) batches.push(batch);
  }
  return batches;
}

/** Shuffled batching of pair rows, refusing data too small to make one batch. */
function pairBatching(rows: number, settings: BatchSettings, tooFew: string) {
  const batchesPerEpoch = shuffledBatches(rows, settings.batchSize, settings.seed, 0).length;
  if (batchesPerEpoch === 0) throw new Error(`trainData: ${tooFew}, got ${rows}`);
  return { batchesPerEpoch, batches: (epoch: number) => shuffledBatches(rows, settings.batchSize, settings.seed, epoch) };
}

export function labelledImageTask(model: EmbeddingModel, data: LabelledData<ImageInput>, settings: BatchSettings) {
  const sampler = new ClassSampler(data.labelIds, settings);
  return {
    loss: 'TripletMarginLoss' as const,
    batchesPerEpoch: sampler.batchesPerEpoch,
    batches: (epoch: number) => sampler.epoch(epoch),
    prepare: async (indices: number[]) => ({
      batch: await model.loadImages(indices.map((i) => data.items[i]!.image)),
      labels: labelsOf(data.labelIds, indices),
    }),
    step: (prepared: { batch: NativeBatch; labels: Int32Array }) => model.nativeModel.trainStep(prepared.batch, prepared.labels),
    truncated: () => 0,
  } satisfies TrainingTask<{ batch: NativeBatch; labels: Int32Array }>;
}

export function labelledTextTask(model: EmbeddingModel, data: LabelledTextData, settings: BatchSettings) {
  const sampler = new ClassSampler(data.labelIds, settings);
  return {
    loss: 'TripletMarginLoss' as const,
    batchesPerEpoch: sampler.batchesPerEpoch,
    batches: (epoch: number) => sampler.epoch(epoch),
    prepare: async (indices: number[]) => ({
      batch: model.tokenize(indices.map((i) => data.items[i]!.text), 'trainData'),
      labels: labelsOf(data.labelIds, indices),
    }),
    step: (prepared: { batch: NativeBatch; labels: Int32Array }) => model.nativeModel.trainStep(prepared.batch, prepared.labels),
    truncated: (prepared: { batch: { truncated: number } }) => prepared.batch.truncated,
  } satisfies TrainingTask<{ batch: NativeBatch & { truncated: number }; labels: Int32Array }>;
}

interface PairBatches {
  queries: NativeBatch & { truncated: number };
  documents: NativeBatch & { truncated: number };
  negatives: (NativeBatch & { truncated: number }) | null;
  groups: Int32Array;
}

export function textPairsTask(model: EmbeddingModel, data: TextPairData, settings: BatchSettings): TrainingTask<PairBatches> {
  const hasNegatives = data.pairs.some((pair) => pair.negative !== undefined);
  if (hasNegatives && !data.pairs.every((pair) => pair.negative !== undefined)) {
    throw new Error('trainData: either every pair has a hard negative or none has');
  }
  return {
    loss: 'MultipleNegativesRankingLoss',
    ...pairBatching(data.pairs.length, settings, 'pairs need at least 2 rows for in-batch negatives'),
    prepare: async (indices) => ({
      queries: model.tokenize(indices.map((i) => data.pairs[i]!.query), 'trainData queries'),
      documents: model.tokenize(indices.map((i) => data.pairs[i]!.document), 'trainData documents'),
      negatives: hasNegatives ? model.tokenize(indices.map((i) => data.pairs[i]!.negative!), 'trainData negatives') : null,
      groups: labelsOf(data.groups, indices),
    }),
    step: (p) => model.nativeModel.trainPairsStep(p.queries, p.documents, p.negatives, p.groups),
    truncated: (p) => p.queries.truncated + p.documents.truncated + (p.negatives?.truncated ?? 0),
  };
}

interface ScoredBatches {
  first: NativeBatch & { truncated: number };
  second: NativeBatch & { truncated: number };
  scores: Float32Array;
}

export function scoredPairsTask(model: EmbeddingModel, data: ScoredPairData, settings: BatchSettings): TrainingTask<ScoredBatches> {
  return {
    loss: 'CosineSimilarityLoss',
    ...pairBatching(data.pairs.length, settings, 'scored pairs need at least 2 rows'),
    prepare: async (indices) => ({
      first: model.tokenize(indices.map((i) => data.pairs[i]!.a), 'trainData'),
      second: model.tokenize(indices.map((i) => data.pairs[i]!.b), 'trainData'),
      scores: Float32Array.from(indices, (i) => data.pairs[i]!.score),
    }),
    step: (p) => model.nativeModel.trainScoredStep(p.first, p.second, p.scores),
    truncated: (p) => p.first.truncated + p.second.truncated,
  };
}

export function textTask(model: EmbeddingModel, data: TextData, settings: BatchSettings): TrainingTask<unknown> {
  switch (data.kind) {
    case 'labelled':
      return labelledTextTask(model, data, settings) as TrainingTask<unknown>;
    case 'pairs':
      return textPairsTask(model, data, settings) as TrainingTask<unknown>;
    case 'scored':
      return scoredPairsTask(model, data, settings) as TrainingTask<unknown>;
  }
}

interface TextImageBatches {
  texts: EncodedBatch;
  images: NativeImageBatch;
  groups: Int32Array;
}

/** CLIP: each row a matching (text, image) pair; the other rows of the batch are its negatives. */
export function textImageTask(model: EmbeddingModel, data: TextImageData, settings: BatchSettings): TrainingTask<TextImageBatches> {
  return {
    loss: 'CLIPLoss',
    ...pairBatching(data.pairs.length, settings, 'text-image pairs need at least 2 rows for in-batch negatives'),
    prepare: async (indices) => ({
      texts: model.tokenize(indices.map((i) => data.pairs[i]!.text), 'trainData texts'),
      images: await model.loadImages(indices.map((i) => data.pairs[i]!.image)),
      groups: labelsOf(data.groups, indices),
    }),
    step: (p) => model.nativeModel.trainContrastiveStep(p.texts, p.images, p.groups),
    truncated: (p) => p.texts.truncated,
  };
}
