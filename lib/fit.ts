// fit(): fine-tunes an embedding model on labelled images with a mined triplet loss. The loop lives
// here; every step's forward, loss, backward and optimizer update run in C++ on a worker thread, while
// the next batch's images are decoded by sharp in parallel.

import type { NativeMiner, NativeOptimizer } from './binding.js';
import { ClassSampler } from './data/sampler.js';
import type { ImageBatch, ImageInput } from './data/images.js';
import type { LabelledData } from './data/csv.js';
import { evaluate, type RetrievalMetrics } from './evaluateModel.js';
import { readLabelledInput, type LabelledInput } from './labelledData.js';
import { loadModel } from './loadModel.js';
import { EmbeddingModel, type Device, type Pooling } from './model.js';
import { learningRateAt, type Scheduler } from './schedule.js';

export type Loss = 'TripletMarginLoss';

export interface FitOptions {
  /** An exported backbone or saved model directory, or a model from loadModel. */
  model: string | EmbeddingModel;
  /** Labelled training images: a CSV (header; image path, label) or an array of { image, label }. */
  trainData: LabelledInput;
  /** Labelled images to score after each epoch (retrieval among themselves). */
  evalData?: LabelledInput;
  /** Default 'TripletMarginLoss' (the only loss for labelled images). */
  loss?: Loss;
  /** Triplet mining inside each batch. Default 'batch-hard'. */
  miner?: NativeMiner;
  /** Triplet margin, on L2 distances. Default 0.2. */
  margin?: number;
  /** Default 'adam'. */
  optimizer?: NativeOptimizer;
  /** Default 1e-4. */
  learningRate?: number;
  /** Learning-rate schedule over all steps of all epochs. Default 'constant'. */
  scheduler?: Scheduler;
  /** Steps of linear warm-up before the schedule. Default 0. */
  warmupSteps?: number;
  /** Default 0. */
  weightDecay?: number;
  /** SGD momentum. Default 0.9. */
  momentum?: number;
  /** Default 5. */
  epochs?: number;
  /** Default 32; must be a multiple of numItemsPerClass. */
  batchSize?: number;
  /** Items of each class in a batch (class sampler). Default 4. */
  numItemsPerClass?: number;
  /** Freeze the backbone trunk; only the projection head (and GeM's p) train. Default false. */
  freeze?: boolean;
  /** Projection head width, when `model` is a backbone directory. */
  outputDim?: number;
  /** Pooling, when `model` is a backbone directory. */
  pooling?: Pooling;
  /** Input size in pixels, when `model` is a directory (see LoadModelOptions.imageSize). */
  imageSize?: number;
  device?: Device;
  /** Where the fine-tuned model is saved after training (written atomically). */
  outputDir?: string;
  /** k of the evaluation metrics. Default 10. */
  evalK?: number;
  /** Seed of the class sampler and projection head. Default 0. */
  seed?: number;
  onProgress?: (event: FitProgress) => void;
}

export type FitProgress =
  | { phase: 'train'; epoch: number; epochs: number; step: number; steps: number; loss: number; triplets: number; learningRate: number }
  | { phase: 'eval'; epoch: number; epochs: number; done: number; total: number }
  | { phase: 'epoch-end'; epoch: number; epochs: number; record: EpochRecord };

export interface EpochRecord {
  epoch: number;
  /** Mean loss over the epoch's steps. */
  loss: number;
  /** Mean mined triplets per step. */
  triplets: number;
  steps: number;
  seconds: number;
  eval?: RetrievalMetrics;
}

export interface FitResult {
  model: EmbeddingModel;
  history: EpochRecord[];
}

interface ResolvedFit {
  miner: NativeMiner;
  margin: number;
  optimizer: NativeOptimizer;
  learningRate: number;
  scheduler: Scheduler;
  warmupSteps: number;
  weightDecay: number;
  momentum: number;
  epochs: number;
  batchSize: number;
  numItemsPerClass: number;
  freeze: boolean;
  evalK: number;
  seed: number;
}

function number(value: unknown, option: string, check: (v: number) => boolean, expected: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !check(value)) {
    throw new TypeError(`option '${option}' must be ${expected}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function oneOf<T extends string>(value: unknown, option: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new TypeError(`option '${option}' must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

function resolveOptions(options: FitOptions): ResolvedFit {
  const integer = (v: number) => Number.isInteger(v) && v >= 1;
  oneOf(options.loss ?? 'TripletMarginLoss', 'loss', ['TripletMarginLoss'] as const);
  return {
    miner: oneOf(options.miner ?? 'batch-hard', 'miner', ['batch-hard', 'semi-hard', 'all'] as const),
    margin: number(options.margin ?? 0.2, 'margin', (v) => v > 0, 'a positive number'),
    optimizer: oneOf(options.optimizer ?? 'adam', 'optimizer', ['adam', 'adamw', 'sgd'] as const),
    learningRate: number(options.learningRate ?? 1e-4, 'learningRate', (v) => v > 0, 'a positive number'),
    scheduler: oneOf(options.scheduler ?? 'constant', 'scheduler', ['constant', 'linear', 'cosine'] as const),
    warmupSteps: number(options.warmupSteps ?? 0, 'warmupSteps', (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0'),
    weightDecay: number(options.weightDecay ?? 0, 'weightDecay', (v) => v >= 0, 'a number >= 0'),
    momentum: number(options.momentum ?? 0.9, 'momentum', (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
    epochs: number(options.epochs ?? 5, 'epochs', integer, 'a positive integer'),
    batchSize: number(options.batchSize ?? 32, 'batchSize', integer, 'a positive integer'),
    numItemsPerClass: number(options.numItemsPerClass ?? 4, 'numItemsPerClass', integer, 'a positive integer'),
    freeze: options.freeze ?? false,
    evalK: number(options.evalK ?? 10, 'evalK', integer, 'a positive integer'),
    seed: number(options.seed ?? 0, 'seed', Number.isInteger, 'an integer'),
  };
}

function batchLabels(data: LabelledData<ImageInput>, indices: readonly number[]): Int32Array {
  const labels = new Int32Array(indices.length);
  indices.forEach((item, i) => (labels[i] = data.labelIds[item]!));
  return labels;
}

/**
 * Fine-tunes `options.model` and returns it with a per-epoch history. A model loaded here from a
 * directory is returned to the caller (dispose it when done); on error it is disposed, and outputDir is
 * only ever written complete.
 */
export async function fit(options: FitOptions): Promise<FitResult> {
  if (typeof options !== 'object' || options === null) throw new TypeError('fit needs an options object');
  const settings = resolveOptions(options);
  if (options.model === undefined) throw new TypeError("option 'model' is required (a model directory or a loaded model)");
  if (options.trainData === undefined) throw new TypeError("option 'trainData' is required (a CSV path or an array of { image, label })");
  const trainData = await readLabelledInput(options.trainData, 'trainData');
  const evalData = options.evalData === undefined ? undefined : await readLabelledInput(options.evalData, 'evalData');
  // Built before the model is loaded so that a batch size that cannot be sampled fails fast.
  const sampler = new ClassSampler(trainData.labelIds, {
    batchSize: settings.batchSize,
    numItemsPerClass: settings.numItemsPerClass,
    seed: settings.seed,
  });

  const ownsModel = typeof options.model === 'string';
  const model =
    typeof options.model === 'string'
      ? await loadModel(options.model, {
          device: options.device,
          outputDim: options.outputDim,
          pooling: options.pooling,
          imageSize: options.imageSize,
          seed: settings.seed,
        })
      : options.model;
  if (!(model instanceof EmbeddingModel)) throw new TypeError("option 'model' must be a directory path or a model from loadModel");

  try {
    model.nativeModel.configureTraining({
      optimizer: settings.optimizer,
      learningRate: settings.learningRate,
      weightDecay: settings.weightDecay,
      momentum: settings.momentum,
      freeze: settings.freeze ? 'trunk' : 'none',
      margin: settings.margin,
      miner: settings.miner,
    });
    const history: EpochRecord[] = [];
    for (let epoch = 0; epoch < settings.epochs; epoch++) {
      const stepsBefore = epoch * sampler.batchesPerEpoch;
      const schedule = (step: number) =>
        learningRateAt({ ...settings, totalSteps: settings.epochs * sampler.batchesPerEpoch }, stepsBefore + step);
      const record = await trainEpoch(model, trainData, sampler.epoch(epoch), epoch, settings, options, schedule);
      if (evalData) {
        record.eval = await evaluate(model, {
          queries: evalData.items.map((item) => ({ image: item.image, label: item.label })),
          k: settings.evalK,
          onProgress: (done, total) =>
            options.onProgress?.({ phase: 'eval', epoch, epochs: settings.epochs, done, total }),
        });
      }
      history.push(record);
      options.onProgress?.({ phase: 'epoch-end', epoch, epochs: settings.epochs, record });
    }
    if (options.outputDir !== undefined) {
      await model.save(options.outputDir, { training: { ...settings, history } });
    }
    return { model, history };
  } catch (error) {
    if (ownsModel) model.dispose();
    throw error;
  }
}

async function trainEpoch(
  model: EmbeddingModel,
  data: LabelledData<ImageInput>,
  batches: number[][],
  epoch: number,
  settings: ResolvedFit,
  options: FitOptions,
  schedule: (step: number) => number,
): Promise<EpochRecord> {
  const started = performance.now();
  const load = (indices: number[]): Promise<ImageBatch> => model.loadImages(indices.map((i) => data.items[i]!.image));
  let lossSum = 0;
  let tripletSum = 0;
  let pending: Promise<ImageBatch> | undefined = batches.length > 0 ? load(batches[0]!) : undefined;
  for (let step = 0; step < batches.length; step++) {
    const pixels = await pending!;
    pending = step + 1 < batches.length ? load(batches[step + 1]!) : undefined;
    pending?.catch(() => undefined); // surfaced when awaited; never an unhandled rejection meanwhile
    const learningRate = schedule(step);
    model.nativeModel.setLearningRate(learningRate);
    const result = await model.nativeModel.trainStep(pixels, batchLabels(data, batches[step]!));
    lossSum += result.loss;
    tripletSum += result.examples;
    options.onProgress?.({
      phase: 'train',
      epoch,
      epochs: settings.epochs,
      step: step + 1,
      steps: batches.length,
      loss: result.loss,
      triplets: result.examples,
      learningRate,
    });
  }
  const steps = batches.length;
  return {
    epoch,
    loss: steps ? lossSum / steps : 0,
    triplets: steps ? tripletSum / steps : 0,
    steps,
    seconds: (performance.now() - started) / 1000,
  };
}
