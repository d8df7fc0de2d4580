// fit(): fine-tunes an embedding model. The loop lives here; every step's forward, loss, backward and
// optimizer update run in C++ on a worker thread, while the next batch is prepared in JS (images decoded
// by sharp, texts tokenized). What the data is, how it is read and evaluated, and which training task it
// makes, the model's modality says (lib/modalities/); what a step is for each kind of data is in
// trainingTasks.ts.

import { resolve } from 'node:path';
import type { NativeStepOptions, NativeTrainStepResult } from './binding.js';
import type { TextDataInput } from './data/textCsv.js';
import type { TextImageInput } from './data/textImageCsv.js';
import { evaluate, type EvaluationResult, type RetrievalMetrics } from './evaluate.js';
import type { LabelledInput } from './labelledData.js';
import { loadModelFromMetadata } from './loadModel.js';
import { LOSS_NAMES, resolveLossOptions, type Loss, type LossOptions } from './losses/index.js';
import { readModelDirMetadata, type ModelDirMetadata } from './metadata.js';
import { modalityNamed, modalityOfMetadata, type EmbeddingModality } from './modalities/index.js';
import { EmbeddingModel, type Device, type Pooling } from './model.js';
import { OPTIMIZER_NAMES, optimizerDescriptor, type Optimizer } from './optimizers.js';
import { stageOutputDir, type StagedOutput } from './outputDir.js';
import type { Precision } from './precision.js';
import { learningRateAt, SCHEDULER_NAMES, warmupStepsOf, type Scheduler } from './schedule.js';
import { lossFor, type PreparedStep, type TrainingTask } from './trainingTasks.js';

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
  /** Default 'adam' (see OPTIMIZERS). */
  optimizer?: Optimizer;
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
  /** Default 0. Biases and normalisation weights are left out unless decayBiasesAndNorms. */
  weightDecay?: number;
  /**
   * Whether weight decay also applies to biases and normalisation weights (parameters with fewer than 2
   * dimensions, or named *bias* / *norm*). Default false: they are left out, as Hugging Face's Trainer
   * and sentence-transformers do.
   */
  decayBiasesAndNorms?: boolean;
  /** SGD and RMSprop momentum, in [0, 1). Default 0.9 for SGD, 0 for RMSprop. */
  momentum?: number;
  /** Adam, AdamW, RMSprop, Adagrad: the term added to the denominator (> 0). Default 1e-8; Adagrad 1e-10. */
  epsilon?: number;
  /** RMSprop: smoothing constant of the squared-gradient average, in [0, 1). Default 0.99. */
  rmspropAlpha?: number;
  /**
   * Text models: layer-wise learning-rate decay, in (0, 1]. The projection head and pooling train at the
   * scheduled rate, transformer layer i (of L) at rate * layerDecay^(L - i), the embeddings at
   * rate * layerDecay^(L + 1). Default 1 (off); 0.65-0.95 are usual.
   */
  layerDecay?: number;
  /** Clip the total gradient norm to this (> 0) before each optimizer step. Default: off. */
  maxGradNorm?: number;
  /**
   * Gradient accumulation: sum the gradients of this many consecutive batches (each loss scaled by
   * 1 / accumulateSteps) before one optimizer step; the schedule counts optimizer steps. Default 1.
   */
  accumulateSteps?: number;
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
  /** Seed of the batch sampler, the projection head and dropout: a CPU run is reproducible bit for bit. Default 0. */
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
      /** After a step that updated the weights: the total gradient norm before clipping. */
      gradNorm?: number;
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
  optimizer: Optimizer;
  learningRate: number;
  scheduler: Scheduler;
  warmupSteps: number;
  warmupRatio: number | undefined;
  restarts: number;
  power: number;
  endLearningRate: number;
  weightDecay: number;
  decayBiasesAndNorms: boolean;
  momentum: number;
  /** undefined: the optimizer's default, or it has none. */
  epsilon: number | undefined;
  rmspropAlpha: number;
  layerDecay: number;
  maxGradNorm: number | undefined;
  accumulateSteps: number;
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
  if (options.loss !== undefined) oneOf(options.loss, 'loss', LOSS_NAMES);
  const freeze = options.freeze ?? false;
  if (typeof freeze !== 'boolean' && freeze !== 'image' && freeze !== 'text' && (typeof freeze !== 'object' || freeze === null)) {
    throw new TypeError(`option 'freeze' must be true, false, { trainableLayers: N }, or for CLIP 'image' or 'text', got ${JSON.stringify(freeze)}`);
  }
  const trainableLayers =
    typeof freeze === 'object' ? number(freeze.trainableLayers, 'freeze.trainableLayers', integer, 'a positive integer') : 0;
  const optimizer = oneOf(options.optimizer ?? OPTIMIZER_NAMES[0]!, 'optimizer', OPTIMIZER_NAMES);
  const descriptor = optimizerDescriptor(optimizer);
  // An option the chosen optimizer does not read is an error, as a loss option of another loss is.
  const ownOption = <T>(value: T | undefined, option: string, reads: boolean): T | undefined => {
    if (value !== undefined && !reads) throw new TypeError(`option '${option}' does not apply to optimizer '${optimizer}'`);
    return value;
  };
  const momentum = ownOption(options.momentum, 'momentum', descriptor.momentum !== undefined);
  const epsilon = ownOption(options.epsilon, 'epsilon', descriptor.epsilon !== undefined);
  const rmspropAlpha = ownOption(options.rmspropAlpha, 'rmspropAlpha', descriptor.alpha === true);
  if (options.decayBiasesAndNorms !== undefined && typeof options.decayBiasesAndNorms !== 'boolean') {
    throw new TypeError(`option 'decayBiasesAndNorms' must be a boolean, got ${JSON.stringify(options.decayBiasesAndNorms)}`);
  }
  return {
    optimizer,
    learningRate: number(options.learningRate ?? 1e-4, 'learningRate', (v) => v > 0, 'a positive number'),
    scheduler: oneOf(options.scheduler ?? 'constant', 'scheduler', SCHEDULER_NAMES),
    warmupSteps: number(options.warmupSteps ?? 0, 'warmupSteps', (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0'),
    warmupRatio: options.warmupRatio === undefined ? undefined : number(options.warmupRatio, 'warmupRatio', (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
    restarts: number(options.restarts ?? 1, 'restarts', integer, 'a positive integer'),
    power: number(options.power ?? 1, 'power', (v) => v > 0, 'a positive number'),
    endLearningRate: number(options.endLearningRate ?? 1e-7, 'endLearningRate', (v) => v > 0, 'a positive number'),
    weightDecay: number(options.weightDecay ?? 0, 'weightDecay', (v) => v >= 0, 'a number >= 0'),
    decayBiasesAndNorms: options.decayBiasesAndNorms ?? false,
    momentum: number(momentum ?? descriptor.momentum ?? 0, 'momentum', (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
    epsilon: epsilon === undefined ? undefined : number(epsilon, 'epsilon', (v) => v > 0, 'a positive number'),
    rmspropAlpha: number(rmspropAlpha ?? 0.99, 'rmspropAlpha', (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
    layerDecay: number(options.layerDecay ?? 1, 'layerDecay', (v) => v > 0 && v <= 1, 'a number in (0, 1]'),
    maxGradNorm: options.maxGradNorm === undefined ? undefined : number(options.maxGradNorm, 'maxGradNorm', (v) => v > 0, 'a positive number'),
    accumulateSteps: number(options.accumulateSteps ?? 1, 'accumulateSteps', integer, 'a positive integer'),
    epochs: number(options.epochs ?? 5, 'epochs', integer, 'a positive integer'),
    batchSize: number(options.batchSize ?? 32, 'batchSize', integer, 'a positive integer'),
    numItemsPerClass: number(options.numItemsPerClass ?? 4, 'numItemsPerClass', integer, 'a positive integer'),
    freeze: typeof freeze === 'string' ? freeze : freeze !== false ? 'trunk' : 'none',
    trainableLayers,
    learningRateGiven: options.learningRate !== undefined,
    wiseFt: options.wiseFt === undefined ? undefined : number(options.wiseFt, 'wiseFt', (v) => v >= 0 && v <= 1, 'a number in [0, 1]'),
    evalK: number(options.evalK ?? 10, 'evalK', integer, 'a positive integer'),
    seed: number(options.seed ?? 0, 'seed', Number.isInteger, 'an integer'),
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
  if (settings.layerDecay !== 1 && !modality.freezing.includes('layers')) {
    throw new TypeError(`option 'layerDecay' applies to text models (the layers of their transformer), not to ${modality.described} model`);
  }
  // Read once, up front: bad eval data fails before training, and epochs do not re-read the file.
  const evalData = options.evalData === undefined ? undefined : modality.evaluationInput(await modality.readData(options.evalData, 'evalData'));
  // Before the model loads, so that a batch size that cannot be sampled fails fast.
  modality.checkBatching(train, settings);

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
      decayBiasesAndNorms: settings.decayBiasesAndNorms,
      momentum: settings.momentum,
      epsilon: settings.epsilon,
      rmspropAlpha: settings.rmspropAlpha,
      layerDecay: settings.layerDecay,
      maxGradNorm: settings.maxGradNorm ?? 0,
      seed: settings.seed,
      freeze: settings.freeze,
      keepInitialWeights: settings.wiseFt !== undefined,
      trainableLayers: settings.trainableLayers,
      layerPrefix: text?.layerPrefix,
      numLayers: text?.numLayers,
    });
    const step = (prepared: PreparedStep, accumulation: NativeStepOptions) =>
      model.nativeModel.trainStep(prepared.inputs, prepared.targets, loss.name, lossOptions, accumulation);
    // The schedule counts optimizer steps: with accumulation, one per accumulateSteps batches.
    const updatesPerEpoch = Math.ceil(task.batchesPerEpoch / settings.accumulateSteps);
    const totalSteps = settings.epochs * updatesPerEpoch;
    settings.warmupSteps = warmupStepsOf({ warmupSteps: options.warmupSteps, warmupRatio: settings.warmupRatio }, totalSteps);
    const history: EpochRecord[] = [];
    for (let epoch = 0; epoch < settings.epochs; epoch++) {
      const stepsBefore = epoch * updatesPerEpoch;
      const schedule = (update: number) => learningRateAt({ ...settings, totalSteps }, stepsBefore + update);
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
  trainStep: (prepared: PreparedStep, accumulation: NativeStepOptions) => Promise<NativeTrainStepResult>,
  epoch: number,
  settings: ResolvedFit,
  options: FitOptions,
  schedule: (update: number) => number,
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
    // Batches [first, first + size) make one optimizer update; the last group of an epoch may be shorter,
    // and each loss counts 1 / size, so an update always averages its batches.
    const k = settings.accumulateSteps;
    const first = step - (step % k);
    const size = Math.min(k, batches.length - first);
    const learningRate = schedule(first / k);
    model.nativeModel.setLearningRate(learningRate);
    const result = await trainStep(prepared, { lossScale: 1 / size, update: step === first + size - 1 });
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
      ...(result.gradNorm !== undefined ? { gradNorm: result.gradNorm } : {}),
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
