// What one training step means for each kind of data. fit() drives the loop; a task says how an epoch is
// cut into batches and how a batch is prepared in JS (images decoded by sharp, texts tokenized) into the
// input batches and targets that the loss (lib/losses/) takes, in its order:
//   labelled images or texts -> class sampler -> [items], labels
//   (query, document[, negative]) pairs -> shuffled batches -> [queries, documents[, negatives]], group ids
//   (text, text, score) pairs -> shuffled batches -> [first, second], scores
//   (query, positive, negative, margin) triples -> shuffled batches -> [queries, positives, negatives], margins
//   (text, image) pairs on a CLIP model -> shuffled batches -> [texts, images], group ids
import type { NativeBatch } from './binding.js';
import type { LabelledData } from './data/csv.js';
import type { ImageInput } from './data/images.js';
import { ClassSampler, mulberry32 } from './data/sampler.js';
import type { LabelledTextData, MarginData, ScoredPairData, TextData, TextPairData } from './data/textCsv.js';
import type { TextImageData } from './data/textImageCsv.js';
import { LOSSES, lossesFor, type Loss, type LossData, type LossDescriptor } from './losses/index.js';
import type { EmbeddingModel } from './model.js';

/** One step's native arguments. */
export interface PreparedStep {
  /** In the order the loss takes them. */
  inputs: NativeBatch[];
  /** One per row: labels or group ids, or scores or teacher margins. */
  targets: Int32Array | Float32Array;
  /** Texts truncated to the model's maximum length in this step (0 for images). */
  truncated: number;
}

export interface TrainingTask {
  batchesPerEpoch: number;
  batches(epoch: number): number[][];
  /** JS-side work for a batch (decode, tokenize); may run while the previous step trains. */
  prepare(indices: number[]): Promise<PreparedStep>;
}

export interface BatchSettings {
  batchSize: number;
  numItemsPerClass: number;
  seed: number;
}

/** Training data as fit() reads it: labelled images, a kind of text data, or CLIP's text-image pairs. */
export type TrainDataKind = TextData['kind'] | 'images' | 'text-image';

/** The loss a kind of data trains with: `requested`, which must take that data, or the data's default. */
export function lossFor(kind: TrainDataKind, requested: Loss | undefined): LossDescriptor {
  const data: LossData = kind === 'images' ? 'labelled' : kind;
  const candidates = lossesFor(data);
  if (requested === undefined) return candidates[0]!;
  const loss = LOSSES.find((l) => l.name === requested);
  if (loss === undefined) throw new TypeError(`option 'loss' must be one of ${LOSSES.map((l) => l.name).join(', ')}, got ${JSON.stringify(requested)}`);
  if (loss.data !== data) {
    const what = kind === 'images' ? 'labelled images' : kind === 'text-image' ? 'text-image pairs' : `${kind} data`;
    throw new TypeError(`option 'loss' is ${requested}, but ${what} trains with ${candidates.map((l) => l.name).join(' or ')}`);
  }
  return loss;
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

export function labelledImageTask(model: EmbeddingModel, data: LabelledData<ImageInput>, settings: BatchSettings): TrainingTask {
  const sampler = new ClassSampler(data.labelIds, settings);
  return {
    batchesPerEpoch: sampler.batchesPerEpoch,
    batches: (epoch) => sampler.epoch(epoch),
    prepare: async (indices) => ({
      inputs: [await model.loadImages(indices.map((i) => data.items[i]!.image), indices.map((i) => data.items[i]!.source))],
      targets: labelsOf(data.labelIds, indices),
      truncated: 0,
    }),
  };
}

export function labelledTextTask(model: EmbeddingModel, data: LabelledTextData, settings: BatchSettings): TrainingTask {
  const sampler = new ClassSampler(data.labelIds, settings);
  return {
    batchesPerEpoch: sampler.batchesPerEpoch,
    batches: (epoch) => sampler.epoch(epoch),
    prepare: async (indices) => {
      const items = model.tokenize(indices.map((i) => data.items[i]!.text), 'trainData');
      return { inputs: [items], targets: labelsOf(data.labelIds, indices), truncated: items.truncated };
    },
  };
}

export function textPairsTask(model: EmbeddingModel, data: TextPairData, settings: BatchSettings): TrainingTask {
  const hasNegatives = data.pairs.some((pair) => pair.negative !== undefined);
  if (hasNegatives && !data.pairs.every((pair) => pair.negative !== undefined)) {
    throw new Error('trainData: either every pair has a hard negative or none has');
  }
  return {
    ...pairBatching(data.pairs.length, settings, 'pairs need at least 2 rows for in-batch negatives'),
    prepare: async (indices) => {
      const inputs = [
        model.tokenize(indices.map((i) => data.pairs[i]!.query), 'trainData queries'),
        model.tokenize(indices.map((i) => data.pairs[i]!.document), 'trainData documents'),
      ];
      if (hasNegatives) inputs.push(model.tokenize(indices.map((i) => data.pairs[i]!.negative!), 'trainData negatives'));
      return { inputs, targets: labelsOf(data.groups, indices), truncated: inputs.reduce((sum, batch) => sum + batch.truncated, 0) };
    },
  };
}

export function scoredPairsTask(model: EmbeddingModel, data: ScoredPairData, settings: BatchSettings): TrainingTask {
  return {
    ...pairBatching(data.pairs.length, settings, 'scored pairs need at least 2 rows'),
    prepare: async (indices) => {
      const first = model.tokenize(indices.map((i) => data.pairs[i]!.a), 'trainData');
      const second = model.tokenize(indices.map((i) => data.pairs[i]!.b), 'trainData');
      return { inputs: [first, second], targets: Float32Array.from(indices, (i) => data.pairs[i]!.score), truncated: first.truncated + second.truncated };
    },
  };
}

/** Distillation: each triple's teacher margin is the target (MarginMSELoss). */
export function marginTriplesTask(model: EmbeddingModel, data: MarginData, settings: BatchSettings): TrainingTask {
  return {
    ...pairBatching(data.triples.length, settings, 'margin triples need at least 2 rows'),
    prepare: async (indices) => {
      const inputs = (['query', 'positive', 'negative'] as const).map((field) =>
        model.tokenize(indices.map((i) => data.triples[i]![field]), `trainData ${field === 'query' ? 'queries' : `${field}s`}`),
      );
      return { inputs, targets: Float32Array.from(indices, (i) => data.triples[i]!.margin), truncated: inputs.reduce((sum, batch) => sum + batch.truncated, 0) };
    },
  };
}

export function textTask(model: EmbeddingModel, data: TextData, settings: BatchSettings): TrainingTask {
  switch (data.kind) {
    case 'labelled':
      return labelledTextTask(model, data, settings);
    case 'pairs':
      return textPairsTask(model, data, settings);
    case 'scored':
      return scoredPairsTask(model, data, settings);
    case 'margins':
      return marginTriplesTask(model, data, settings);
  }
}

/** CLIP: each row a matching (text, image) pair; the other rows of the batch are its negatives. */
export function textImageTask(model: EmbeddingModel, data: TextImageData, settings: BatchSettings): TrainingTask {
  return {
    ...pairBatching(data.pairs.length, settings, 'text-image pairs need at least 2 rows for in-batch negatives'),
    prepare: async (indices) => {
      const texts = model.tokenize(indices.map((i) => data.pairs[i]!.text), 'trainData texts');
      const images = await model.loadImages(indices.map((i) => data.pairs[i]!.image), indices.map((i) => data.pairs[i]!.source));
      return { inputs: [texts, images], targets: labelsOf(data.groups, indices), truncated: texts.truncated };
    },
  };
}
