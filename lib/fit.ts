// fit(): fine-tunes an embedding model. Here: loading, resuming and saving; the options and their
// resolution are in fitOptions.ts, the loop of epochs and steps with the callbacks' hooks in
// trainingLoop.ts, checkpoints in checkpoints.ts. What the data is, how it is read and evaluated, and
// which training task it makes, the model's modality says (lib/modalities/); what a step is for each
// kind of data is in trainingTasks.ts.

import { join, resolve } from 'node:path';
import { writeFileAtomic } from './atomicFile.js';
import type { NativeStepOptions } from './binding.js';
import { BestModelCheckpoint, EvaluationCallback, TrainingCheckpoint, WiseFt, type KeptModel, type TrainingCallback } from './callbacks/index.js';
import { checkSameRun, CheckpointWriter, defaultCheckpointDir, fingerprintData, openCheckpoint, TRAINING_STATE_FILE, type Checkpoint } from './checkpoints.js';
import { shardTask } from './distributed/dataParallel.js';
import { readDistributedEnvironment } from './distributed/environment.js';
import { joinProcessGroup, resolveDistributed, type DistributedRun } from './distributed/processGroup.js';
import { readJsonFile } from './jsonFile.js';
import { loadModel, loadModelFromMetadata } from './loadModel.js';
import { resolveLossOptions, type Loss, type LossOptions } from './losses/index.js';
import { METADATA_FILE, readModelDirMetadata, type ModelDirMetadata } from './metadata.js';
import { modalityNamed, modalityOfMetadata, type EmbeddingModality } from './modalities/index.js';
import { resolveOptions, type EpochRecord, type FitOptions, type FitResult, type ResolvedFit } from './fitOptions.js';
import { EmbeddingModel } from './model.js';
import { trainingPrecisionOf } from './precision.js';
import { stageOutputDir, type StagedOutput } from './outputDir.js';
import { learningRateAt, warmupStepsOf } from './schedule.js';
import { FitReportRecorder } from './report/fitReport.js';
import { REPORT_FILE } from './report/trainingReport.js';
import { orderCallbacks, restoreCallbacks, TrainingLoop } from './trainingLoop.js';
import { lossFor, samplerOf, type PreparedStep, type TrainingTask } from './trainingTasks.js';

export type { Loss, LossOptions };
export type { EpochRecord, FitOptions, FitProgress, FitResult } from './fitOptions.js';
export { CLIP_LEARNING_RATE } from './modalities/textImage.js';

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
  // A model passed in trains in fit's precision and gets its own (its encode precision) back afterwards.
  const given = options.model instanceof EmbeddingModel && !options.model.disposed ? options.model : undefined;
  const encodePrecision = given?.precision;
  try {
    return await fitModel(options);
  } finally {
    if (given && encodePrecision !== undefined && !given.disposed) given.setPrecision(encodePrecision);
  }
}

async function fitModel(options: FitOptions): Promise<FitResult> {
  const trainingPrecision = trainingPrecisionOf(options.precision);
  const settings = resolveOptions(options);
  if (options.model === undefined) throw new TypeError("option 'model' is required (a model directory or a loaded model)");
  if (options.trainData === undefined) throw new TypeError("option 'trainData' is required (a CSV path or an array)");
  // Distributed (lib/distributed/): batchSize is per rank; the sampler draws global batches of
  // batchSize x worldSize rows, and that global size is what the run records (a resumed run may use any
  // world size that divides it). Only rank 0 evaluates and writes: the others run no callbacks.
  const distributed = resolveDistributed(options.distributed);
  const environment = distributed && readDistributedEnvironment();
  const lead = environment === undefined || environment.rank === 0;
  if (environment !== undefined) settings.batchSize *= environment.worldSize;
  const callbacks = lead ? callbacksOf(options, settings) : [];
  const source = await modelSource(options.model);
  const modality = source.modality;
  const train = await modality.readData(options.trainData, 'trainData');
  const loss = lossFor(modality.lossKind(train), options.loss);
  const lossOptions = resolveLossOptions(loss, options);
  const sampler = samplerOf(settings.sampler, loss);
  settings.sampler = sampler; // recorded (and part of a run's identity) as the sampler it stands for
  const batchSettings = { ...settings, sampler };
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    options.onProgress?.({ phase: 'warning', message });
  };
  if (modality.learningRate !== undefined && !settings.learningRateGiven) settings.learningRate = modality.learningRate;
  modality.checkFreezing(settings);
  if (settings.layerDecay !== 1 && !modality.freezing.includes('layers')) {
    throw new TypeError(`option 'layerDecay' applies to text models (the layers of their transformer), not to ${modality.described} model`);
  }
  // Before the model loads, so that a batch size that cannot be sampled fails fast.
  const adjustment = modality.checkBatching(train, batchSettings);
  if (adjustment !== undefined) warn(adjustment);
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
    ? await loadModel(checkpoint.dir, { device: options.device, precision: trainingPrecision })
    : typeof options.model === 'string'
      ? await loadModelFromMetadata(options.model, source.metadata!, {
          device: options.device,
          outputDim: options.outputDim,
          pooling: options.pooling,
          imageSize: options.imageSize,
          maxLength: options.maxLength,
          seed: settings.seed,
          precision: trainingPrecision,
        })
      : options.model;
  if (!ownsModel) model.setPrecision(trainingPrecision);

  let output: StagedOutput | undefined;
  let parallel: DistributedRun | undefined;
  try {
    if (distributed !== undefined) parallel = await joinProcessGroup(distributed, model.device === 'cuda' ? 'cuda' : 'cpu', environment);
    // The other ranks wait here while rank 0 writes, then every rank leaves the group.
    const finish = async <T>(result: T): Promise<T> => {
      if (parallel !== undefined) {
        await parallel.group.barrier('waiting for rank 0 to write the model');
        await parallel.group.close();
      }
      return result;
    };
    // Staged before training: a target we must not replace, or a place that cannot be written, fails
    // now rather than after the training it would have lost.
    const stageOutput = () =>
      stageOutputDir(options.outputDir!, { option: "option 'outputDir'", inputDir: typeof options.model === 'string' ? options.model : undefined });
    if (options.outputDir !== undefined && lead) output = await stageOutput();
    // Read once, up front: bad eval data fails before training, and epochs do not re-read the file.
    for (const callback of callbacks) if (callback instanceof EvaluationCallback) await callback.prepare(model);
    // With an output folder, a report of the run is written into it (lib/report/fitReport.ts).
    const report = options.outputDir === undefined || !lead ? undefined : new FitReportRecorder({
      model: model.name, task: modality.task, warnings, resumed: checkpoint && { dir: checkpoint.dir, globalStep: checkpoint.record.position.globalStep },
    });
    const onProgress = report ? report.progress(options.onProgress) : options.onProgress;
    const globalTask = modality.trainingTask(model, train, batchSettings);
    const trainingTask = parallel ? shardTask(globalTask, parallel.rank, parallel.worldSize) : globalTask;
    const task: TrainingTask = report ? report.watch(trainingTask) : trainingTask;
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
    // The evaluation before training (a resumed run has it from its checkpoint).
    const evaluation = callbacks.find((c): c is EvaluationCallback => c instanceof EvaluationCallback && c.name === 'eval');
    if (evaluation !== undefined && checkpoint === undefined) {
      await evaluation.evaluateBefore(model, (done, total) => onProgress?.({ phase: 'eval', epoch: -1, epochs: settings.epochs, done, total }));
    }
    // The schedule counts optimizer updates: with accumulation, one per accumulateSteps batches.
    const totalSteps = settings.epochs * Math.ceil(task.batchesPerEpoch / settings.accumulateSteps);
    settings.warmupSteps = warmupStepsOf({ warmupSteps: options.warmupSteps, warmupRatio: settings.warmupRatio }, totalSteps);
    const { learningRateGiven: _given, ...recorded } = settings;
    const config = { loss: loss.name, ...lossOptions, ...recorded };
    const trainingRecord = (history: EpochRecord[], extra: object = {}) => ({
      training: { ...config, ...(evaluation?.before ? { evalBefore: evaluation.before } : {}), history, ...extra },
    });
    // Into `dir`: the staging folder, swapped in with the model it describes.
    const writeReport = (dir: string, history: EpochRecord[], end: { kept?: KeptModel; wiseFt?: FitResult['wiseFt'] }) =>
      report!.write(dir, { config, history, before: evaluation?.before, ...end });
    const keep = callbacks.find((c): c is TrainingCheckpoint => c instanceof TrainingCheckpoint)?.keep;
    const writer = checkpointDir === undefined || !lead ? undefined : new CheckpointWriter(resolve(checkpointDir), keep);
    let kept: KeptModel | undefined;
    const loop = new TrainingLoop({
      model,
      task,
      epochs: settings.epochs,
      accumulateSteps: settings.accumulateSteps,
      step: (prepared: PreparedStep, accumulation: NativeStepOptions) =>
        model.nativeModel.trainStep(prepared.inputs, prepared.targets, loss.name, lossOptions, parallel ? { ...accumulation, group: parallel.group } : accumulation),
      learningRate: (update) => learningRateAt({ ...settings, totalSteps }, update),
      callbacks,
      onProgress,
      signal: options.signal,
      resume: checkpoint?.record,
      agree: parallel && ((flags) => parallel!.group.agree(flags, 'agreement after a step')),
      checkpointElsewhere: lead ? undefined : `training interrupted on rank ${parallel!.rank} of ${parallel!.worldSize}; rank 0 writes the checkpoint to resume from`,
      writeCheckpoint: writer && ((state) => writer.write(model, { run, ...state }, trainingRecord(state.history))),
      async saveModel(keptNow, history) {
        const staged = output ?? (await stageOutput());
        output = undefined;
        await writeReport(staged.staging, history, { kept: keptNow });
        await model.saveStaged(staged, trainingRecord(history, { kept: keptNow }));
        kept = keptNow;
      },
    });
    await loop.run();
    const history = loop.history;
    kept = callbacks.find((c): c is BestModelCheckpoint => c instanceof BestModelCheckpoint)?.kept ?? kept;
    const wiseFt = callbacks.find((c): c is WiseFt => c instanceof WiseFt)?.result;
    const done = {
      warnings,
      ...(evaluation?.before ? { evalBefore: evaluation.before } : {}),
      ...(options.outputDir !== undefined && lead ? { report: join(resolve(options.outputDir), REPORT_FILE) } : {}),
    };
    if (kept !== undefined) {
      // outputDir holds the kept model: complete its record (the whole history) in place, atomically.
      await output?.abort();
      const file = join(resolve(options.outputDir!), METADATA_FILE);
      const metadata = { ...((await readJsonFile(file, 'finetuner model metadata')) as object), ...trainingRecord(history, { kept }) };
      await writeFileAtomic(file, `${JSON.stringify(metadata, null, 2)}\n`);
      await writeReport(resolve(options.outputDir!), history, { kept });
      if (kept.epoch !== history.at(-1)?.epoch) {
        const best = await loadModel(options.outputDir!, { device: options.device, precision: trainingPrecision });
        if (ownsModel) model.dispose();
        return await finish({ model: best, history, kept, ...done });
      }
      return await finish({ model, history, kept, ...done });
    }
    if (output !== undefined) {
      await writeReport(output.staging, history, { wiseFt });
      await model.saveStaged(output, trainingRecord(history, wiseFt ? { wiseFtResult: wiseFt } : {}));
    }
    return await finish({ model, history, ...(wiseFt ? { wiseFt } : {}), ...done });
  } catch (error) {
    await output?.abort();
    await parallel?.group.close().catch(() => undefined);
    if (ownsModel) model.dispose();
    throw error;
  }
}
