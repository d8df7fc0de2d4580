// fit(): fine-tunes an embedding model. Here: the options, loading, resuming and saving; the loop of
// epochs and steps, with the callbacks' hooks, is in trainingLoop.ts, checkpoints in checkpoints.ts. What
// the data is, how it is read and evaluated, and which training task it makes, the model's modality says
// (lib/modalities/); what a step is for each kind of data is in trainingTasks.ts.

import { join, resolve } from 'node:path';
import { writeFileAtomic } from './atomicFile.js';
import type { NativeStepOptions } from './binding.js';
import { BestModelCheckpoint, EvaluationCallback, TrainingCheckpoint, WiseFt, type KeptModel, type TrainingCallback } from './callbacks/index.js';
import { checkSameRun, CheckpointWriter, defaultCheckpointDir, fingerprintData, openCheckpoint, TRAINING_STATE_FILE, type Checkpoint } from './checkpoints.js';
import type { TextDataInput } from './data/textCsv.js';
import type { TextImageInput } from './data/textImageCsv.js';
import type { EvaluationResult, RetrievalMetrics } from './evaluate.js';
import type { LabelledInput } from './labelledData.js';
import { readJsonFile } from './jsonFile.js';
import { loadModel, loadModelFromMetadata } from './loadModel.js';
import { LOSS_NAMES, resolveLossOptions, type Loss, type LossOptions } from './losses/index.js';
import { METADATA_FILE, readModelDirMetadata, type ModelDirMetadata } from './metadata.js';
import { modalityNamed, modalityOfMetadata, type EmbeddingModality } from './modalities/index.js';
import { EmbeddingModel, type Device, type Pooling } from './model.js';
import { OPTIMIZER_NAMES, optimizerDescriptor, type Optimizer } from './optimizers.js';
import { stageOutputDir, type StagedOutput } from './outputDir.js';
import type { Precision } from './precision.js';
import { learningRateAt, SCHEDULER_NAMES, warmupStepsOf, type Scheduler } from './schedule.js';
import { orderCallbacks, restoreCallbacks, TrainingLoop } from './trainingLoop.js';
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
   * text-image pairs (text-to-image retrieval, and image-to-text in `eval.imageToText`). Shorthand for
   * an EvaluationCallback named 'eval' (its metrics: 'eval.map', ...), unless `callbacks` has one.
   */
  evalData?: LabelledInput | string | TextDataInput | TextImageInput;
  /**
   * Called at the start, after each step, after each epoch and at the end (README, Callbacks): the
   * built-in EvaluationCallback, BestModelCheckpoint, EarlyStopping, TrainingCheckpoint, WiseFt, or
   * objects of your own with onTrainBegin / onBatchEnd / onEpochEnd / onTrainEnd.
   */
  callbacks?: TrainingCallback[];
  /** Where TrainingCheckpoint and an interrupted run write checkpoints. Default `<outputDir>.checkpoints`. */
  checkpointDir?: string;
  /**
   * Continues a stopped run from a checkpoint folder, or the newest checkpoint of a checkpointDir. Give
   * the same data and options as the run had (a difference is an error naming it); the weights come
   * from the checkpoint, so the result's model is a new one (dispose it).
   */
  resumeFrom?: string;
  /** Aborting it stops training after the current step, writes a checkpoint and rejects with TrainingInterruptedError. */
  signal?: AbortSignal;
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
   * pretrained one; 0.5 is the usual choice. Default: off. Shorthand for a WiseFt callback.
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
  /** Results of EvaluationCallbacks named other than 'eval', by name. */
  metrics?: Record<string, EvaluationResult>;
}

export interface FitResult {
  model: EmbeddingModel;
  history: EpochRecord[];
  /** With the wiseFt option: alpha and the evaluation after interpolating (with evalData). */
  wiseFt?: { alpha: number; eval?: RetrievalMetrics };
  /** With BestModelCheckpoint: the epoch kept in outputDir (and returned as `model`). */
  kept?: KeptModel;
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
    learningRate: option(options, 'learningRate', 1e-4),
    scheduler: oneOf(options.scheduler ?? 'constant', 'scheduler', SCHEDULER_NAMES),
    warmupSteps: option(options, 'warmupSteps', 0),
    warmupRatio: options.warmupRatio === undefined ? undefined : option(options, 'warmupRatio', 0),
    restarts: option(options, 'restarts', 1),
    power: option(options, 'power', 1),
    endLearningRate: option(options, 'endLearningRate', 1e-7),
    weightDecay: option(options, 'weightDecay', 0),
    decayBiasesAndNorms: options.decayBiasesAndNorms ?? false,
    momentum: numberOr(momentum, 'momentum', OPTION_RANGES.momentum, descriptor.momentum ?? 0),
    epsilon: epsilon === undefined ? undefined : checkNumber(epsilon, 'epsilon', OPTION_RANGES.epsilon),
    rmspropAlpha: numberOr(rmspropAlpha, 'rmspropAlpha', OPTION_RANGES.rmspropAlpha, 0.99),
    layerDecay: option(options, 'layerDecay', 1),
    maxGradNorm: options.maxGradNorm === undefined ? undefined : option(options, 'maxGradNorm', 0),
    accumulateSteps: option(options, 'accumulateSteps', 1),
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

/** The callbacks of a run: the given ones, plus those that evalData and wiseFt stand for. */
function callbacksOf(options: FitOptions, settings: ResolvedFit): TrainingCallback[] {
  if (options.callbacks !== undefined && !Array.isArray(options.callbacks)) throw new TypeError("option 'callbacks' must be an array");
  const callbacks = [...(options.callbacks ?? [])];
  callbacks.forEach((callback, i) => {
    if (typeof callback !== 'object' || callback === null) throw new TypeError(`callbacks[${i}] must be an object with onTrainBegin, onBatchEnd, onEpochEnd or onTrainEnd`);
  });
  let evaluation = callbacks.find((c): c is EvaluationCallback => c instanceof EvaluationCallback && c.name === 'eval');
  if (options.evalData !== undefined && evaluation === undefined) {
    evaluation = new EvaluationCallback({ queries: options.evalData, k: settings.evalK });
    callbacks.push(evaluation);
  }
  if (settings.wiseFt !== undefined) callbacks.push(new WiseFt({ alpha: settings.wiseFt, evaluation }));
  const best = callbacks.some((c) => c instanceof BestModelCheckpoint);
  if (best && options.outputDir === undefined) throw new TypeError("BestModelCheckpoint saves the best model to outputDir: give option 'outputDir'");
  if (best && callbacks.some((c) => c instanceof WiseFt)) {
    throw new TypeError('BestModelCheckpoint and WiSE-FT exclude each other: WiSE-FT interpolates the last weights, not the kept ones');
  }
  return orderCallbacks(callbacks);
}

/** What a run is, for a resumed run to match: the resolved options, the loss and the data. */
async function runIdentity(options: FitOptions, settings: ResolvedFit, lossName: string, lossOptions: object, modality: EmbeddingModality, metadata?: ModelDirMetadata) {
  const { learningRateGiven: _given, ...recorded } = settings;
  const model = options.model instanceof EmbeddingModel ? { name: options.model.name, outputDim: options.model.outputDim } : { name: metadata?.name };
  return {
    ...recorded,
    loss: lossName,
    lossOptions,
    model: { modality: modality.name, ...model, outputDim: options.outputDim, pooling: options.pooling, imageSize: options.imageSize, maxLength: options.maxLength },
    trainData: await fingerprintData(options.trainData),
    evalData: options.evalData === undefined ? undefined : await fingerprintData(options.evalData),
  };
}

/**
 * Fine-tunes `options.model` and returns it with a per-epoch history. A model loaded here from a
 * directory (or a checkpoint) is returned to the caller (dispose it when done); on error it is
 * disposed, and outputDir is only ever written complete.
 */
export async function fit(options: FitOptions): Promise<FitResult> {
  if (typeof options !== 'object' || options === null) throw new TypeError('fit needs an options object');
  const settings = resolveOptions(options);
  if (options.model === undefined) throw new TypeError("option 'model' is required (a model directory or a loaded model)");
  if (options.trainData === undefined) throw new TypeError("option 'trainData' is required (a CSV path or an array)");
  const callbacks = callbacksOf(options, settings);
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
  const run = await runIdentity(options, settings, loss.name, lossOptions, modality, source.metadata);
  let checkpoint: Checkpoint | undefined;
  if (options.resumeFrom !== undefined) {
    checkpoint = await openCheckpoint(options.resumeFrom);
    checkSameRun(checkpoint.record.run, run, options.resumeFrom);
  }
  const checkpointDir = options.checkpointDir ?? (options.outputDir === undefined ? undefined : defaultCheckpointDir(options.outputDir));

  const ownsModel = typeof options.model === 'string' || checkpoint !== undefined;
  const model = checkpoint
    ? await loadModel(checkpoint.dir, { device: options.device, precision: options.precision })
    : typeof options.model === 'string'
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
    const stageOutput = () =>
      stageOutputDir(options.outputDir!, { option: "option 'outputDir'", inputDir: typeof options.model === 'string' ? options.model : undefined });
    if (options.outputDir !== undefined) output = await stageOutput();
    // Read once, up front: bad eval data fails before training, and epochs do not re-read the file.
    for (const callback of callbacks) if (callback instanceof EvaluationCallback) await callback.prepare(model);
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
      keepInitialWeights: callbacks.some((c) => c instanceof WiseFt),
      trainableLayers: settings.trainableLayers,
      layerPrefix: text?.layerPrefix,
      numLayers: text?.numLayers,
    });
    if (checkpoint !== undefined) {
      await model.nativeModel.loadTrainingState(join(checkpoint.dir, TRAINING_STATE_FILE), loss.name, lossOptions);
      restoreCallbacks(callbacks, checkpoint.record.callbacks);
    }
    // The schedule counts optimizer updates: with accumulation, one per accumulateSteps batches.
    const totalSteps = settings.epochs * Math.ceil(task.batchesPerEpoch / settings.accumulateSteps);
    settings.warmupSteps = warmupStepsOf({ warmupSteps: options.warmupSteps, warmupRatio: settings.warmupRatio }, totalSteps);
    const { learningRateGiven: _given, ...recorded } = settings;
    const trainingRecord = (history: EpochRecord[], extra: object = {}) => ({ training: { loss: loss.name, ...lossOptions, ...recorded, history, ...extra } });
    const keep = callbacks.find((c): c is TrainingCheckpoint => c instanceof TrainingCheckpoint)?.keep;
    const writer = checkpointDir === undefined ? undefined : new CheckpointWriter(resolve(checkpointDir), keep);
    let kept: KeptModel | undefined;
    const loop = new TrainingLoop({
      model,
      task,
      epochs: settings.epochs,
      accumulateSteps: settings.accumulateSteps,
      step: (prepared: PreparedStep, accumulation: NativeStepOptions) =>
        model.nativeModel.trainStep(prepared.inputs, prepared.targets, loss.name, lossOptions, accumulation),
      learningRate: (update) => learningRateAt({ ...settings, totalSteps }, update),
      callbacks,
      onProgress: options.onProgress,
      signal: options.signal,
      resume: checkpoint?.record,
      writeCheckpoint: writer && ((state) => writer.write(model, { run, ...state }, trainingRecord(state.history))),
      async saveModel(keptNow, history) {
        const staged = output ?? (await stageOutput());
        output = undefined;
        await model.saveStaged(staged, trainingRecord(history, { kept: keptNow }));
        kept = keptNow;
      },
    });
    await loop.run();
    const history = loop.history;
    kept = callbacks.find((c): c is BestModelCheckpoint => c instanceof BestModelCheckpoint)?.kept ?? kept;
    const wiseFt = callbacks.find((c): c is WiseFt => c instanceof WiseFt)?.result;
    if (kept !== undefined) {
      // outputDir holds the kept model: complete its record (the whole history) in place, atomically.
      await output?.abort();
      const file = join(resolve(options.outputDir!), METADATA_FILE);
      const metadata = { ...((await readJsonFile(file, 'finetuner model metadata')) as object), ...trainingRecord(history, { kept }) };
      await writeFileAtomic(file, `${JSON.stringify(metadata, null, 2)}\n`);
      if (kept.epoch !== history.at(-1)?.epoch) {
        const best = await loadModel(options.outputDir!, { device: options.device, precision: options.precision });
        if (ownsModel) model.dispose();
        return { model: best, history, kept };
      }
      return { model, history, kept };
    }
    if (output !== undefined) await model.saveStaged(output, trainingRecord(history, wiseFt ? { wiseFtResult: wiseFt } : {}));
    return { model, history, ...(wiseFt ? { wiseFt } : {}) };
  } catch (error) {
    await output?.abort();
    if (ownsModel) model.dispose();
    throw error;
  }
}
