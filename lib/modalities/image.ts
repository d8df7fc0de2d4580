// Image models (task image-to-image): CNN backbones, trunk -> pooling -> optional projection -> L2 norm.
// Images are decoded, resized and cropped by sharp (lib/data/images.ts) into uint8 NHWC batches; training
// data is labelled images (TripletMarginLoss by default); evaluation is retrieval among labelled items.
import { join } from 'node:path';
import type { NativeBinding, NativeDevice, NativeEmbeddingModel, NativePooling } from '../binding.js';
import type { LabelledData } from '../data/csv.js';
import { imageInputProblem, type ImageInput } from '../data/images.js';
import { BatcherInputError } from '../batcherErrors.js';
import type { BatcherFormat, PreparedInput } from '../batcherLane.js';
import { batchError, encodeArray, itemError, type ArrayJob } from '../encodePipeline.js';
import { readLabelledInput, type LabelledInput } from '../labelledData.js';
import type { LoadModelOptions } from '../loadModel.js';
import type { BackboneMetadata, EmbeddingMetadata, ImageBackboneMetadata } from '../metadata.js';
import { classSampler, labelledImageTask, type TrainingTask } from '../trainingTasks.js';
import type { EmbeddingModality, InputKindUnit } from './modality.js';
import { modelFileIn, baseMetadata, checkPooling, checkTrunkFreezing, scaledPreprocessing, type ModelParts } from './modelParts.js';
import { checkNumber } from '../numericOption.js';
import { OPTION_RANGES } from '../optionRanges.js';
import { labelledRetrieval, searchPrecisionOf, type LabelledSet } from './retrieval.js';

/**
 * Which input of a loadImages call failed and why, from its error ('Cannot load image a.png (inputs[3]):
 * ...', 'Cannot load image Buffer inputs[3]: ...', 'loadImageBatch: inputs[3]: ...'), or undefined.
 */
function failedImage(error: unknown): { index: number; reason: string } | undefined {
  const message = error instanceof Error ? error.message : String(error);
  const local = /inputs\[(\d+)\]/.exec(message);
  if (!local) return undefined;
  const reason = message.replace(/^loadImageBatch: /, '').replace(/ ?\(?inputs\[\d+\]\)?:/, ':').replace(/^:\s*/, '');
  return { index: Number(local[1]), reason: reason.charAt(0).toLowerCase() + reason.slice(1) };
}

/** An image decoded for the batcher's queue: its pixels at the model's input size. */
interface QueuedImage extends PreparedInput {
  pixels: Uint8Array;
  height: number;
  width: number;
}

/** Images as a kind of input: of image models, and of CLIP's image tower. */
export const imageInput: InputKindUnit = {
  kind: 'image',
  plural: 'images',
  arrayDescribed: 'images (paths, Buffers or raw pixels)',
  progressUnit: 'img',
  truncates: false,
  modelsLabel: 'image',

  async prepareItems(model, items, start) {
    items.forEach((image, i) => {
      const problem = imageInputProblem(image);
      if (problem) throw itemError(start + i, problem);
    });
    try {
      return { batch: await model.loadImages(items as ImageInput[]), truncated: 0 };
    } catch (error) {
      const failed = failedImage(error);
      if (!failed) throw batchError(start, items.length, error);
      throw itemError(start + failed.index, failed.reason, error);
    }
  },

  // Consecutive slices, the next decoded by sharp while the current one encodes.
  async encodeArray(model, inputs, batchSize, onBatch) {
    const jobs: ArrayJob[] = [];
    for (let start = 0; start < inputs.length; start += batchSize) {
      const slice = inputs.slice(start, start + batchSize) as ImageInput[];
      const indices = slice.map((_, i) => start + i);
      jobs.push({ count: slice.length, indices, prepare: async () => ({ batch: await model.loadImages(slice), truncated: 0 }) });
    }
    return (await encodeArray(model, inputs.length, jobs, onBatch)).data;
  },

  // The batcher's image queue: each request decoded by sharp when it arrives, to the model's input size,
  // so any images batch together: first come, first batched.
  batcherFormat(model, limits): BatcherFormat<QueuedImage> {
    return {
      async prepare(inputs) {
        inputs.forEach((image, i) => {
          const problem = imageInputProblem(image);
          if (problem) throw new BatcherInputError(i, problem);
        });
        let batch: Awaited<ReturnType<typeof model.loadImages>>;
        try {
          batch = await model.loadImages(inputs as ImageInput[]);
        } catch (error) {
          const failed = failedImage(error);
          if (failed) throw new BatcherInputError(failed.index, failed.reason, error);
          throw error;
        }
        const stride = batch.height * batch.width * 3;
        return inputs.map((_, i) => ({ pixels: batch.pixels.subarray(i * stride, (i + 1) * stride), height: batch.height, width: batch.width, length: 0 }));
      },
      select: (queue) => Array.from({ length: Math.min(queue.length, limits.maxBatchSize) }, (_, i) => i),
      build(images) {
        const { height, width } = images[0]!;
        const stride = height * width * 3;
        const pixels = new Uint8Array(images.length * stride);
        images.forEach((image, i) => pixels.set(image.pixels, i * stride));
        return { batch: { pixels, rows: images.length, height, width } };
      },
    };
  },
};

const POOLINGS: readonly NativePooling[] = ['avg', 'max', 'gem'];

const IMAGE_INPUTS = {
  encode_pixels: 'uint8 tensor N x H x W x 3 (RGB, resized and centre-cropped as in preprocessing)',
  forward: 'float32 tensor N x 3 x H x W, scaled to [0, 1] and normalised with preprocessing.mean/std',
} as const;

async function readLabelledImages(input: unknown, option: string): Promise<LabelledSet> {
  const data = await readLabelledInput(input as LabelledInput, option);
  return { inputs: data.items.map((item) => item.image), labels: data.items.map((item) => item.label) };
}

export const imageModality: EmbeddingModality = {
  name: 'image',
  task: 'image-to-image',
  described: 'an image',
  modelsLabel: 'image',
  inputs: [imageInput],
  poolings: POOLINGS,
  freezing: ['trunk'],
  progressUnit: 'img',
  learnedTemperature: false,

  async build(binding: NativeBinding, root: string, meta: BackboneMetadata, device: NativeDevice, options: LoadModelOptions): Promise<ModelParts> {
    const backbone = meta as ImageBackboneMetadata;
    const pooling = checkPooling(options.pooling ?? backbone.pooling, POOLINGS);
    const gemP = options.gemP ?? 3;
    if (!(gemP > 0)) throw new TypeError(`option 'gemP' must be positive, got ${gemP}`);
    const normalize = options.normalize ?? true;
    const native = await binding.buildFromBackbone(await modelFileIn(root, backbone.model), {
      device,
      modality: 'image',
      trunk: backbone.trunk,
      pooling,
      gemP,
      embeddingDim: backbone.embeddingDim,
      outputDim: options.outputDim === undefined ? 0 : checkNumber(options.outputDim, 'outputDim', OPTION_RANGES.outputDim),
      normalize,
      mean: backbone.preprocessing.mean,
      std: backbone.preprocessing.std,
      seed: options.seed ?? 0,
    });
    const metadata: EmbeddingMetadata = {
      ...baseMetadata(backbone, native, pooling, normalize),
      preprocessing: scaledPreprocessing(backbone.preprocessing, options.imageSize),
      inputs: IMAGE_INPUTS,
    };
    return { native, metadata };
  },

  async restore(native: NativeEmbeddingModel, root: string, metadata: EmbeddingMetadata, options: LoadModelOptions): Promise<ModelParts> {
    return { native, metadata: { ...metadata, modality: 'image', preprocessing: scaledPreprocessing(metadata.preprocessing!, options.imageSize) } };
  },

  readData: (input, option) => readLabelledInput(input as LabelledInput, option),
  lossKind: () => 'images',
  checkFreezing: checkTrunkFreezing,
  checkBatching(data, settings) {
    return settings.sampler === 'class' ? classSampler((data as LabelledData<ImageInput>).labelIds, settings).adjustment : undefined;
  },
  classCount: (data) => (data as LabelledData<ImageInput>).classes.length,
  trainingTask: (model, data, settings) => labelledImageTask(model, data as LabelledData<ImageInput>, settings),
  evaluationInput: (data) => (data as LabelledData<ImageInput>).items,

  async evaluate(model, options, k) {
    const queries = await readLabelledImages(options.queries, 'queries');
    const readIndex = options.index === undefined ? undefined : () => readLabelledImages(options.index, 'index');
    return labelledRetrieval((inputs) => model.encode(inputs as ImageInput[], options), queries, readIndex, k, searchPrecisionOf(model));
  },
};
