// fit(): fine-tunes an embedding model. The loop lives here; every step's forward, loss, backward and
// optimizer update run in C++ on a worker thread, while the next batch is prepared in JS (images decoded
// by sharp, texts tokenized). What the data is, how it is read and evaluated, and which training task it
// makes, the model's modality says (lib/modalities/); what a step is for each kind of data is in
// trainingTasks.ts.

import { resolve } from 'node:path';
import type { NativeOptimizer, NativeTrainStepResult } from './binding.js';
import type { TextDataInput } from './data/textCsv.js';
import type { TextImageInput } from './data/textImageCsv.js';
import { evaluate, type EvaluationResult, type RetrievalMetrics } from './evaluate.js';
import type { LabelledInput } from './labelledData.js';
import { loadModelFromMetadata } from './loadModel.js';
import { LOSS_NAMES, resolveLossOptions, type Loss, type LossOptions } from './losses/index.js';
import { readModelDirMetadata, type ModelDirMetadata } from './metadata.js';
import { modalityNamed, modalityOfMetadata, type EmbeddingModality } from './modalities/index.js';
import { EmbeddingModel, type Device, type Pooling } from './model.js';
import { stageOutputDir, type StagedOutput } from './outputDir.js';
import type { Precision } from './precision.js';
import { learningRateAt, SCHEDULER_NAMES, warmupStepsOf, type Scheduler } from './schedule.js';
import { lossFor, type PreparedStep, type TrainingTask } from './trainingTasks.js';
import { checkNumber, numberOr } from './numericOption.js';
import { OPTION_RANGES } from './optionRanges.js';

export type { Loss, LossOptions };
export { CLIP_LEARNING_RATE } from './modalities/textImage.js';

/** The options of the loss (margin, miner, scale, ...) sit beside the others; each loss takes its own (README, Losses). */
export interface FitOptions extends LossOptions {
  /** An exported backbone or saved model directory, or a model from loadModel. */
  model: string | EmbeddingModel;
  /**
   * Images: a labelled CSV (header; image path, label) or an array of { image, label }.
   * Texts: a CSV or array of labelled texts (text, label), query-document pairs (query, document
   * [, negative]) or scored pairs (text, text, score in [0, 1]).
   * CLIP (text-to-image): a CSV of (text, image path) rows, each a matching pair, or
   * { texts, images } / [{ text, image }].
   */
  trainData: LabelledInput | string | TextDataInput | TextImageInput;
  /**
   * Scored after each epoch: labelled items (retrieval among themselves), for texts pairs, for CLIP
   * text-image pairs (text-to-image retrieval, and image-to-text in `eval.imageToText`).
   */
  evalData?: LabelledInput | string | TextDataInput | TextImageInput;
  /** Chosen from the data when left out (the README's loss table lists which loss takes which data). */
  loss?: Loss;
  /** Default 'adam'. */
  optimizer?: NativeOptimizer;
  /** Default 1e-4; 1e-5 for CLIP models (CLIP fine-tuning is fragile: large steps wreck the shared space). */
  learningRate?: number;
  /** Learning-rate schedule over all steps of all epochs (see SCHEDULERS). Default 'constant'. */
  scheduler?: Scheduler;
  /** Steps of linear warm-up before the schedule. Default 0. */
  warmupSteps?: number;
  /** Warm-up as a fraction of all steps, in [0, 1) (instead of warmupSteps). */
  warmupRatio?: number;
  /** 'cosine-with-restarts': cosine cycles after warm-up. Default 1. */
  restarts?: number;
  /** 'polynomial': degree of the decay. Default 1. */
  power?: number;
  /** 'polynomial': the rate at the last step (> 0). Default 1e-7. */
  endLearningRate?: number;
  /** Default 0. */
  weightDecay?: number;
  /** SGD momentum. Default 0.9. */
  momentum?: number;
  /** Default 5. */
  epochs?: number;
  /** Default 32; for labelled data a multiple of numItemsPerClass. */
  batchSize?: number;
  /** Labelled data: items of each class in a batch (class sampler). Default 4. */
  numItemsPerClass?: number;
  /**
   * true freezes the backbone trunk (only the projection head and GeM's p train);
   * { trainableLayers: N } on a transformer freezes all but its top N layers;
   * CLIP: 'image' or 'text' freezes that tower (the other tower and the temperature train). Default false.
   */
  freeze?: boolean | { trainableLayers: number } | 'image' | 'text';
  /**
   * WiSE-FT (Wortsman et al. 2022, as the Python finetuner offered for CLIP): after training, the
   * weights become (1 - wiseFt) * pretrained + wiseFt * fine-tuned. 1 keeps the fine-tuned model, 0 the
   * pretrained one; 0.5 is the usual choice. Default: off.
   */
  wiseFt?: number;
  /** Projection head width, when `model` is a backbone directory. */
  outputDim?: number;
  /** Pooling, when `model` is a backbone directory. */
  pooling?: Pooling;
  /** Image input size in pixels, when `model` is a directory (see LoadModelOptions.imageSize). */
  imageSize?: number;
  /** Text: tokens per text, when `model` is a directory (see LoadModelOptions.maxLength). */
  maxLength?: number;
  device?: Device;
  /** Autocast precision of the training forwards (see LoadModelOptions.precision). Default: the model's (fp32 when loaded here). */
  precision?: Precision;
  /** Where the fine-tuned model is saved after training (written atomically). */
  outputDir?: string;
  /** k of the evaluation metrics. Default 10. */
  evalK?: number;
  /** Seed of the batch sampler and projection head. Default 0. */
  seed?: number;
  onProgress?: (event: FitProgress) => void;
}

export type FitProgress =
  | {
      phase: 'train';
      epoch: number;
      epochs: number;
      step: number;
      steps: number;
      loss: number;
      /** Examples that contributed to this step: mined triplets, or pairs. */
      examples: number;
      learningRate: number;
      /** Texts truncated to the maximum length so far this epoch. */
      truncated: number;
    }
  | { phase: 'eval'; epoch: number; epochs: number; done: number; total: number }
  | { phase: 'epoch-end'; epoch: number; epochs: number; record: EpochRecord };

export interface EpochRecord {
  epoch: number;
  /** Mean loss over the epoch's steps. */
  loss: number;
  /** Mean examples per step that contributed to the loss (mined triplets, or pairs). */
  examples: number;
  steps: number;
  seconds: number;
  /** Texts truncated to the model's maximum length during the epoch. */
  truncated: number;
  eval?: EvaluationResult;
}

export interface FitResult {
  model: EmbeddingModel;
  history: EpochRecord[];
  /** With the wiseFt option: alpha and the evaluation after interpolating (with evalData). */
  wiseFt?: { alpha: number; eval?: RetrievalMetrics };
}

interface ResolvedFit {
  optimizer: NativeOptimizer;
  learningRate: number;
  scheduler: Scheduler;
  warmupSteps: number;
  warmupRatio: number | undefined;
  restarts: number;
  power: number;
  endLearningRate: number;
  weightDecay: number;
  momentum: number;
  epochs: number;
  batchSize: number;
  numItemsPerClass: number;
  freeze: 'none' | 'trunk' | 'image' | 'text';
  trainableLayers: number;
  /** undefined: the option was not given (the default depends on the model). */
  learningRateGiven: boolean;
  wiseFt: number | undefined;
  evalK: number;
  seed: number;
}

/** A numeric option of fit, checked against its range in OPTION_RANGES, or its default. */
function option(options: FitOptions, name: keyof typeof OPTION_RANGES & keyof FitOptions, fallback: number): number {
  return numberOr(options[name], name, OPTION_RANGES[name], fallback);
}

function oneOf<T extends string>(value: unknown, option: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new TypeError(`option '${option}' must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

function resolveOptions(options: FitOptions): ResolvedFit {
  if (options.loss !== undefined) oneOf(options.loss, 'loss', LOSS_NAMES);
  const freeze = options.freeze ?? false;
  if (typeof freeze !== 'boolean' && freeze !== 'image' && freeze !== 'text' && (typeof freeze !== 'object' || freeze === null)) {
    throw new TypeError(`option 'freeze' must be true, false, { trainableLayers: N }, or for CLIP 'image' or 'text', got ${JSON.stringify(freeze)}`);
  }
  const trainableLayers =
    typeof freeze === 'object' ? checkNumber(freeze.trainableLayers, 'freeze.trainableLayers', OPTION_RANGES.trainableLayers) : 0;
  return {
    optimizer: oneOf(options.optimizer ?? 'adam', 'optimizer', ['adam', 'adamw', 'sgd'] as const),
    learningRate: option(options, 'learningRate', 1e-4),
    scheduler: oneOf(options.scheduler ?? 'constant', 'scheduler', SCHEDULER_NAMES),
    warmupSteps: option(options, 'warmupSteps', 0),
    warmupRatio: options.warmupRatio === undefined ? undefined : option(options, 'warmupRatio', 0),
    restarts: option(options, 'restarts', 1),
    power: option(options, 'power', 1),
    endLearningRate: option(options, 'endLearningRate', 1e-7),
    weightDecay: option(options, 'weightDecay', 0),
    momentum: option(options, 'momentum', 0.9),
    epochs: option(options, 'epochs', 5),
    batchSize: option(options, 'batchSize', 32),
    numItemsPerClass: option(options, 'numItemsPerClass', 4),
    freeze: typeof freeze === 'string' ? freeze : freeze !== false ? 'trunk' : 'none',
    trainableLayers,
    learningRateGiven: options.learningRate !== undefined,
    wiseFt: options.wiseFt === undefined ? undefined : option(options, 'wiseFt', 1),
    evalK: numberOr(options.evalK, 'evalK', OPTION_RANGES.k, 10),
    seed: option(options, 'seed', 0),
  };
}

/**
 * The modality of `model` (a directory or a loaded model), known before anything loads; a directory's
 * finetuner.json is read here, once, and loading the model reuses it.
 */
async function modelSource(model: string | EmbeddingModel): Promise<{ modality: EmbeddingModality; metadata?: ModelDirMetadata }> {
  if (model instanceof EmbeddingModel) return { modality: modalityNamed(model.modality) };
  if (typeof model !== 'string') throw new TypeError("option 'model' must be a directory path or a model from loadModel");
  const metadata = await readModelDirMetadata(resolve(model));
  return { modality: modalityOfMetadata(metadata), metadata };
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
  if (options.trainData === undefined) throw new TypeError("option 'trainData' is required (a CSV path or an array)");
  const source = await modelSource(options.model);
  const modality = source.modality;
  const train = await modality.readData(options.trainData, 'trainData');
  const loss = lossFor(modality.lossKind(train), options.loss);
  const lossOptions = resolveLossOptions(loss, options);
  if (modality.learningRate !== undefined && !settings.learningRateGiven) settings.learningRate = modality.learningRate;
  modality.checkFreezing(settings);
  // Read once, up front: bad eval data fails before training, and epochs do not re-read the file.
  const evalData = options.evalData === undefined ? undefined : modality.evaluationInput(await modality.readData(options.evalData, 'evalData'));
  // Before the model loads, so that a batch size that cannot be sampled fails fast.
  modality.checkBatching(train, settings);
  // Losses with a weight per class (ArcFaceLoss, CosFaceLoss, ProxyAnchorLoss): numClasses 0 is the data's.
  if (lossOptions.numClasses !== undefined) {
    const classes = modality.classCount(train);
    if (classes !== undefined && lossOptions.numClasses === 0) lossOptions.numClasses = classes;
    if (classes !== undefined && (lossOptions.numClasses as number) < classes) {
      throw new RangeError(`option 'numClasses' is ${lossOptions.numClasses} but trainData has ${classes} labels; leave it out to take the data's`);
    }
  }

  const ownsModel = typeof options.model === 'string';
  const model =
    typeof options.model === 'string'
      ? await loadModelFromMetadata(options.model, source.metadata!, {
          device: options.device,
          outputDim: options.outputDim,
          pooling: options.pooling,
          imageSize: options.imageSize,
          maxLength: options.maxLength,
          seed: settings.seed,
          precision: options.precision,
        })
      : options.model;
  if (!ownsModel && options.precision !== undefined) model.setPrecision(options.precision);

  let output: StagedOutput | undefined;
  try {
    // Staged before training: a target we must not replace, or a place that cannot be written, fails
    // now rather than after the training it would have lost.
    if (options.outputDir !== undefined) {
      output = await stageOutputDir(options.outputDir, {
        option: "option 'outputDir'",
        inputDir: typeof options.model === 'string' ? options.model : undefined,
      });
    }
    const task: TrainingTask = modality.trainingTask(model, train, settings);
    const text = model.metadata.text;
    model.nativeModel.configureTraining({
      optimizer: settings.optimizer,
      learningRate: settings.learningRate,
      weightDecay: settings.weightDecay,
      momentum: settings.momentum,
      freeze: settings.freeze,
      keepInitialWeights: settings.wiseFt !== undefined,
      trainableLayers: settings.trainableLayers,
      layerPrefix: text?.layerPrefix,
      numLayers: text?.numLayers,
    });
    const step = (prepared: PreparedStep) => model.nativeModel.trainStep(prepared.inputs, prepared.targets, loss.name, lossOptions);
    const totalSteps = settings.epochs * task.batchesPerEpoch;
    settings.warmupSteps = warmupStepsOf({ warmupSteps: options.warmupSteps, warmupRatio: settings.warmupRatio }, totalSteps);
    const history: EpochRecord[] = [];
    for (let epoch = 0; epoch < settings.epochs; epoch++) {
      const stepsBefore = epoch * task.batchesPerEpoch;
      const schedule = (step: number) => learningRateAt({ ...settings, totalSteps }, stepsBefore + step);
      const record = await trainEpoch(model, task, step, epoch, settings, options, schedule);
      if (evalData !== undefined) {
        record.eval = await evaluate(model, {
          queries: evalData,
          k: settings.evalK,
          onProgress: (done, total) => options.onProgress?.({ phase: 'eval', epoch, epochs: settings.epochs, done, total }),
        });
      }
      history.push(record);
      options.onProgress?.({ phase: 'epoch-end', epoch, epochs: settings.epochs, record });
    }
    let wiseFt: FitResult['wiseFt'];
    if (settings.wiseFt !== undefined) {
      await model.nativeModel.interpolateWeights(settings.wiseFt);
      wiseFt = { alpha: settings.wiseFt };
      if (evalData !== undefined) wiseFt.eval = await evaluate(model, { queries: evalData, k: settings.evalK });
    }
    if (output !== undefined) {
      const { learningRateGiven: _given, ...recorded } = settings;
      await model.saveStaged(output, { training: { loss: loss.name, ...lossOptions, ...recorded, history, ...(wiseFt ? { wiseFtResult: wiseFt } : {}) } });
    }
    return { model, history, ...(wiseFt ? { wiseFt } : {}) };
  } catch (error) {
    await output?.abort();
    if (ownsModel) model.dispose();
    throw error;
  }
}

async function trainEpoch(
  model: EmbeddingModel,
  task: TrainingTask,
  trainStep: (prepared: PreparedStep) => Promise<NativeTrainStepResult>,
  epoch: number,
  settings: ResolvedFit,
  options: FitOptions,
  schedule: (step: number) => number,
): Promise<EpochRecord> {
  const started = performance.now();
  const batches = task.batches(epoch);
  let lossSum = 0;
  let exampleSum = 0;
  let truncated = 0;
  let pending = batches.length > 0 ? task.prepare(batches[0]!) : undefined;
  for (let step = 0; step < batches.length; step++) {
    const prepared = await pending!;
    pending = step + 1 < batches.length ? task.prepare(batches[step + 1]!) : undefined;
    pending?.catch(() => undefined); // surfaced when awaited; never an unhandled rejection meanwhile
    const learningRate = schedule(step);
    model.nativeModel.setLearningRate(learningRate);
    const result = await trainStep(prepared);
    lossSum += result.loss;
    exampleSum += result.examples;
    truncated += prepared.truncated;
    options.onProgress?.({
      phase: 'train',
      epoch,
      epochs: settings.epochs,
      step: step + 1,
      steps: batches.length,
      loss: result.loss,
      examples: result.examples,
      learningRate,
      truncated,
    });
  }
  const steps = batches.length;
  return {
    epoch,
    loss: steps ? lossSum / steps : 0,
    examples: steps ? exampleSum / steps : 0,
    steps,
    seconds: (performance.now() - started) / 1000,
    truncated,
  };
}
