// What one training step means for each kind of data. fit() drives the loop; a task says how an epoch is
// cut into batches and how a batch is prepared in JS (images decoded by sharp, texts tokenized) into the
// input batches and targets that the loss (lib/losses/) takes, in its order:
//   labelled images or texts -> [items], labels
//   (query, document[, negative]) pairs -> [queries, documents[, negatives]], group ids
//   (text, text, score) pairs -> [first, second], scores
//   (query, positive, negative, margin) triples -> [queries, positives, negatives], margins
//   (text, image) pairs on a CLIP model -> [texts, images], group ids
// The epoch is cut by the sampler the `sampler` option names (lib/data/batchSamplers.ts), 'auto' by what
// the loss needs: the class sampler for labelled data, no duplicates for in-batch negatives, else random.
import type { NativeBatch } from './binding.js';
import type { LabelledData } from './data/csv.js';
import type { ImageInput } from './data/images.js';
import { noDuplicateBatches, randomBatches, samplerFor, type SamplerName } from './data/batchSamplers.js';
import { ClassSampler } from './data/sampler.js';
import type { LabelledTextData, MarginData, ScoredPairData, TextData, TextPairData } from './data/textCsv.js';
import type { TextImageData } from './data/textImageCsv.js';
import { LOSS_DATA_NAMES, LOSSES, lossesFor, type Loss, type LossData, type LossDescriptor } from './losses/index.js';
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

/** A sampler once 'auto' has been decided. */
export type BatchSampler = Exclude<SamplerName, 'auto'>;

export interface BatchSettings {
  batchSize: number;
  numItemsPerClass: number;
  seed: number;
  sampler: BatchSampler;
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

/**
 * The sampler a training uses: `requested`, or for 'auto' what the loss needs (its targets say it:
 * labels need classes in every batch, group ids mean in-batch negatives, scores need neither). The class
 * sampler is refused for data without labels.
 */
export function samplerOf(requested: SamplerName, loss: LossDescriptor): BatchSampler {
  const sampler = samplerFor(requested, { classes: loss.targets === 'labels', inBatchNegatives: loss.targets === 'group ids' });
  if (sampler === 'class' && loss.data !== 'labelled') {
    throw new TypeError(`option 'sampler' is 'class', but ${LOSS_DATA_NAMES[loss.data]} have no labels; use 'no-duplicates' or 'random'`);
  }
  return sampler;
}

/** The class sampler of labelled data, whose constructor checks (and may adjust) the batch size. */
export function classSampler(labelIds: Int32Array, settings: BatchSettings): ClassSampler {
  return new ClassSampler(labelIds, settings);
}

interface Batching {
  batchesPerEpoch: number;
  batches(epoch: number): number[][];
}

/**
 * How the epochs of `rows` rows are cut by the chosen sampler: `labelIds` are the classes (labelled data
 * only), `keys` the texts and image paths of each row, which 'no-duplicates' keeps apart. Data too small
 * for one batch of 2 is refused. 'no-duplicates' may end an epoch a batch earlier or later than the first
 * one (batchesPerEpoch); the schedule holds its last rate past the end.
 */
function batching(settings: BatchSettings, rows: number, labelIds: Int32Array | undefined, keys: () => string[][], tooFew: string): Batching {
  if (settings.sampler === 'class') {
    const sampler = classSampler(labelIds!, settings);
    return { batchesPerEpoch: sampler.batchesPerEpoch, batches: (epoch) => sampler.epoch(epoch) };
  }
  let cut: (epoch: number) => number[][];
  if (settings.sampler === 'random') cut = (epoch) => randomBatches(rows, settings.batchSize, settings.seed, epoch);
  else {
    const rowKeys = keys();
    cut = (epoch) => noDuplicateBatches(rowKeys, settings.batchSize, settings.seed, epoch);
  }
  const first = cut(0);
  if (first.length === 0 && rows >= 2 && settings.sampler === 'no-duplicates') {
    throw new Error("trainData: sampler 'no-duplicates' finds no 2 rows without a text or image in common; use sampler 'random'");
  }
  if (first.length === 0) throw new Error(`trainData: ${tooFew}, got ${rows}`);
  return { batchesPerEpoch: first.length, batches: (epoch) => (epoch === 0 ? first : cut(epoch)) };
}

/** What makes two images the same for 'no-duplicates': the path; Buffers and raw pixels are all distinct. */
function imageKey(image: unknown, row: number): string {
  return typeof image === 'string' ? image : `\0row ${row}`;
}

export function labelledImageTask(model: EmbeddingModel, data: LabelledData<ImageInput>, settings: BatchSettings): TrainingTask {
  const keys = () => data.items.map((item, row) => [imageKey(item.image, row)]);
  return {
    ...batching(settings, data.items.length, data.labelIds, keys, 'labelled items need at least 2 rows'),
    prepare: async (indices) => ({
      inputs: [await model.loadImages(indices.map((i) => data.items[i]!.image), indices.map((i) => data.items[i]!.source))],
      targets: labelsOf(data.labelIds, indices),
      truncated: 0,
    }),
  };
}

export function labelledTextTask(model: EmbeddingModel, data: LabelledTextData, settings: BatchSettings): TrainingTask {
  const keys = () => data.items.map((item) => [item.text]);
  return {
    ...batching(settings, data.items.length, data.labelIds, keys, 'labelled texts need at least 2 rows'),
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
    ...batching(settings, data.pairs.length, undefined, () => data.pairs.map((p) => (p.negative === undefined ? [p.query, p.document] : [p.query, p.document, p.negative])),
      'pairs need at least 2 rows for in-batch negatives'),
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
    ...batching(settings, data.pairs.length, undefined, () => data.pairs.map((p) => [p.a, p.b]), 'scored pairs need at least 2 rows'),
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
    ...batching(settings, data.triples.length, undefined, () => data.triples.map((t) => [t.query, t.positive, t.negative]), 'margin triples need at least 2 rows'),
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
    ...batching(settings, data.pairs.length, undefined, () => data.pairs.map((p, row) => [p.text, imageKey(p.image, row)]),
      'text-image pairs need at least 2 rows for in-batch negatives'),
    prepare: async (indices) => {
      const texts = model.tokenize(indices.map((i) => data.pairs[i]!.text), 'trainData texts');
      const images = await model.loadImages(indices.map((i) => data.pairs[i]!.image), indices.map((i) => data.pairs[i]!.source));
      return { inputs: [texts, images], targets: labelsOf(data.groups, indices), truncated: texts.truncated };
    },
  };
}
