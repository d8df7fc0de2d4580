// fit()'s options, what it reports (progress events, the epoch record, the result) and how its options
// are resolved: defaults, the shared range checks (lib/optionRanges.ts), the choices of optimizer,
// scheduler and sampler, and the options that belong to one optimizer only.
import type { KeptModel, TrainingCallback } from './callbacks/index.js';
import type { TextDataInput } from './data/textCsv.js';
import type { TextImageInput } from './data/textImageCsv.js';
import { SAMPLER_NAMES, type SamplerName } from './data/batchSamplers.js';
import type { EvaluationResult } from './evaluate.js';
import type { LabelledInput } from './labelledData.js';
import { LOSS_NAMES, type Loss, type LossOptions } from './losses/index.js';
import type { DistributedOptions } from './distributed/processGroup.js';
import type { Device, EmbeddingModel, Pooling } from './model.js';
import { checkNumber, numberOr } from './numericOption.js';
import { OPTIMIZER_NAMES, optimizerDescriptor, type Optimizer } from './optimizers.js';
import { OPTION_RANGES } from './optionRanges.js';
import type { Precision } from './precision.js';
import { SCHEDULER_NAMES, type Scheduler } from './schedule.js';

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
   * Scored before training and after each epoch: labelled items (retrieval among themselves), for texts
   * query-document pairs or scored pairs (Spearman and Pearson of the cosines against the scores), for
   * CLIP text-image pairs (text-to-image retrieval, and image-to-text in `eval.imageToText`). Shorthand
   * for an EvaluationCallback named 'eval' (its metrics: 'eval.map', 'eval.spearman', ...), unless
   * `callbacks` has one.
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
  /** Default 32; with the class sampler rounded down to a multiple of numItemsPerClass (a warning says so). */
  batchSize?: number;
  /** Labelled data: items of each class in a batch (class sampler). Default 4. */
  numItemsPerClass?: number;
  /**
   * How an epoch is cut into batches (see SAMPLERS): 'class' (labelled data), 'no-duplicates', 'random',
   * or 'auto' (default): 'class' for labelled data, 'no-duplicates' for in-batch-negative losses, else 'random'.
   */
  sampler?: SamplerName;
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
  /**
   * Precision of the training forwards: 'fp32' (default), 'bf16', 'fp16' (CUDA) or 'auto' ('int8' is
   * encode-only). A model passed in trains in it and gets its own precision back when fit returns.
   */
  precision?: Precision;
  /** Where the fine-tuned model is saved after training (written atomically), with report.html beside it. */
  outputDir?: string;
  /** k of the evaluation metrics. Default 10. */
  evalK?: number;
  /** Seed of the batch sampler, the projection head and dropout: a CPU run is reproducible bit for bit. Default 0. */
  seed?: number;
  /**
   * Data-parallel training with the other processes of a torchrun-style launch (README, Distributed
   * fine-tuning): reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT, joins their process
   * group (Gloo on the CPU, NCCL on CUDA), trains on global batches of batchSize x WORLD_SIZE rows, and
   * leaves evaluation, checkpoints, the report and the model to rank 0. Default false.
   */
  distributed?: boolean | DistributedOptions;
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
      /** Distributed runs: seconds this step spent in collectives (gathers, their backward, the gradient all-reduce). */
      communicationSeconds?: number;
      /** Distributed runs, after a step that updated the weights: seconds in the all-reduce of the gradients. */
      allReduceSeconds?: number;
    }
  /** Evaluation progress; epoch -1 is the evaluation before training. */
  | { phase: 'eval'; epoch: number; epochs: number; done: number; total: number }
  | { phase: 'epoch-end'; epoch: number; epochs: number; record: EpochRecord }
  /** A setting was adjusted (e.g. the batch size to the class sampler); also in the result's `warnings`. */
  | { phase: 'warning'; message: string };

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
  /** With evalData (an EvaluationCallback named 'eval'): the model's evaluation before the first epoch. */
  evalBefore?: EvaluationResult;
  /** With the wiseFt option: alpha and the evaluation after interpolating (with evalData). */
  wiseFt?: { alpha: number; eval?: EvaluationResult };
  /** Settings that were adjusted rather than refused, as sentences (also sent as 'warning' progress events). */
  warnings: string[];
  /** With outputDir: the path of the training report (outputDir/report.html). */
  report?: string;
  /** With BestModelCheckpoint: the epoch kept in outputDir (and returned as `model`). */
  kept?: KeptModel;
}

export interface ResolvedFit {
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
  /** 'auto' until the loss is known, then the sampler it stands for. */
  sampler: SamplerName;
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

export function oneOf<T extends string>(value: unknown, option: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new TypeError(`option '${option}' must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

export function resolveOptions(options: FitOptions): ResolvedFit {
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
    sampler: oneOf(options.sampler ?? 'auto', 'sampler', SAMPLER_NAMES),
    freeze: typeof freeze === 'string' ? freeze : freeze !== false ? 'trunk' : 'none',
    trainableLayers,
    learningRateGiven: options.learningRate !== undefined,
    wiseFt: options.wiseFt === undefined ? undefined : option(options, 'wiseFt', 1),
    evalK: numberOr(options.evalK, 'evalK', OPTION_RANGES.k, 10),
    seed: option(options, 'seed', 0),
  };
}
