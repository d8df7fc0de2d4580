// The training loop of fit(): epochs of steps, the callbacks' hooks, checkpoints and interruption. Each
// step's forward, loss, backward and optimizer update run in C++ on a worker thread while the next batch
// is prepared in JS. A run may start in the middle (a resumed checkpoint): at step `step` of epoch
// `epoch`, with that epoch's partial sums, the history and the metrics so far. The batch order of an
// epoch is a function of (seed, epoch), so skipping the steps done gives the same batches as before.
// With gradient accumulation, accumulateSteps batches make one optimizer update: the schedule counts
// updates, and the per-step hooks (onBatchEnd, checkpoints, the stop on a signal) run after each update
// only, since gradients accumulated halfway through a group are not part of a checkpoint.
import type { NativeStepOptions, NativeTrainStepResult } from './binding.js';
import type { KeptModel, TrainingCallback, TrainingContext } from './callbacks/callback.js';
import { EvaluationCallback } from './callbacks/evaluationCallback.js';
import { TrainingCheckpoint } from './callbacks/trainingCheckpoint.js';
import type { CheckpointRecord, EpochProgress, TrainingPosition } from './checkpoints.js';
import type { EpochRecord, FitProgress } from './fit.js';
import type { EmbeddingModel } from './model.js';
import type { PreparedStep, TrainingTask } from './trainingTasks.js';

/** fit() stopped by its signal: a checkpoint was written (when it had a place for one) to resume from. */
export class TrainingInterruptedError extends Error {
  constructor(readonly checkpoint: string | undefined, readonly reason: unknown, elsewhere?: string) {
    super(checkpoint ? `training interrupted; resume from the checkpoint ${checkpoint}` : elsewhere ?? 'training interrupted (no checkpointDir or outputDir: nothing to resume from)');
    this.name = 'TrainingInterruptedError';
  }
}

export interface TrainingLoopSetup {
  model: EmbeddingModel;
  task: TrainingTask;
  epochs: number;
  /** Batches per optimizer update (1: every batch updates). */
  accumulateSteps: number;
  step(prepared: PreparedStep, accumulation: NativeStepOptions): Promise<NativeTrainStepResult>;
  /** Learning rate of the 0-based global optimizer update. */
  learningRate(globalUpdate: number): number;
  callbacks: TrainingCallback[];
  onProgress?: (event: FitProgress) => void;
  signal?: AbortSignal;
  /** Where a resumed run starts, and what it had. */
  resume?: Pick<CheckpointRecord, 'position' | 'partial' | 'history' | 'metrics'>;
  /** Writes a checkpoint of the given loop state; undefined when the run has no checkpointDir. */
  writeCheckpoint?: (state: Omit<CheckpointRecord, 'format' | 'version' | 'createdAt' | 'run'>) => Promise<string>;
  /** Writes the model to outputDir with the history so far (BestModelCheckpoint). */
  saveModel(kept: KeptModel, history: EpochRecord[]): Promise<void>;
  /**
   * Distributed runs: the maximum of every rank's flags, so that all ranks stop (a callback on rank 0
   * said so) or are interrupted (a signal reached one) at the same update, in lockstep.
   */
  agree?: (flags: [stop: number, interrupted: number]) => Promise<number[]>;
  /** Distributed ranks other than 0: where the checkpoint of an interruption is, said in its error. */
  checkpointElsewhere?: string;
}

const emptyProgress = (): EpochProgress => ({ lossSum: 0, exampleSum: 0, truncated: 0, seconds: 0 });

/**
 * Evaluations first (monitors read their metrics), TrainingCheckpoint last (a checkpoint holds the
 * state every other callback reached), the rest in the order given.
 */
export function orderCallbacks(callbacks: TrainingCallback[]): TrainingCallback[] {
  const rank = (callback: TrainingCallback) => (callback instanceof EvaluationCallback ? 0 : callback instanceof TrainingCheckpoint ? 2 : 1);
  return [...callbacks].sort((a, b) => rank(a) - rank(b));
}

export class TrainingLoop {
  readonly history: EpochRecord[];
  private readonly metrics: Record<string, number>;
  private position: TrainingPosition;
  private partial: EpochProgress;
  private loss = 0;
  private learningRate = 0;
  private stopped = false;
  /** Distributed runs: whether any rank was interrupted, as the ranks agreed after the last update. */
  private interruptAgreed = false;

  constructor(private readonly setup: TrainingLoopSetup) {
    const resume = setup.resume;
    this.history = resume ? structuredClone(resume.history) : [];
    this.metrics = resume ? { ...resume.metrics } : {};
    this.position = resume ? { ...resume.position } : { epoch: 0, step: 0, globalStep: 0 };
    this.partial = resume ? { ...resume.partial } : emptyProgress();
    this.loss = this.metrics.loss ?? 0;
  }

  /** Runs to the end (or until a callback stops it); rejects with TrainingInterruptedError on the signal. */
  async run(): Promise<void> {
    const { task, epochs, accumulateSteps: k } = this.setup;
    const updatesPerEpoch = Math.ceil(task.batchesPerEpoch / k);
    await this.hook('onTrainBegin');
    while (this.position.epoch < epochs && !this.stopped) {
      const epoch = this.position.epoch;
      const started = performance.now() - this.partial.seconds * 1000;
      const batches = task.batches(epoch);
      let pending = this.position.step < batches.length ? task.prepare(batches[this.position.step]!) : undefined;
      for (let step = this.position.step; step < batches.length && !this.stopped; step++) {
        const prepared = await pending!;
        pending = step + 1 < batches.length ? task.prepare(batches[step + 1]!) : undefined;
        pending?.catch(() => undefined); // surfaced when awaited; never an unhandled rejection meanwhile
        const globalStep = epoch * task.batchesPerEpoch + step;
        // Batches [first, first + size) make one update; the last group of an epoch may be shorter, and
        // each loss counts 1 / size, so an update always averages its batches.
        const first = step - (step % k);
        const size = Math.min(k, batches.length - first);
        const update = step === first + size - 1;
        this.learningRate = this.setup.learningRate(epoch * updatesPerEpoch + first / k);
        this.setup.model.nativeModel.setLearningRate(this.learningRate);
        const result = await this.setup.step(prepared, { lossScale: 1 / size, update });
        this.loss = result.loss;
        this.metrics.loss = result.loss;
        this.partial.lossSum += result.loss;
        this.partial.exampleSum += result.examples;
        this.partial.truncated += prepared.truncated;
        this.partial.seconds = (performance.now() - started) / 1000;
        this.position = { epoch, step: step + 1, globalStep: globalStep + 1 };
        this.setup.onProgress?.({
          phase: 'train', epoch, epochs, step: step + 1, steps: batches.length, loss: result.loss, examples: result.examples,
          learningRate: this.learningRate, truncated: this.partial.truncated,
          ...(result.gradNorm !== undefined ? { gradNorm: result.gradNorm } : {}),
          ...(result.communicationSeconds !== undefined ? { communicationSeconds: result.communicationSeconds } : {}),
          ...(result.allReduceSeconds !== undefined ? { allReduceSeconds: result.allReduceSeconds } : {}),
        });
        if (!update) continue;
        await this.hook('onBatchEnd');
        await this.agree();
        await this.stopIfInterrupted();
      }
      const steps = this.position.step;
      const record: EpochRecord = {
        epoch,
        loss: steps ? this.partial.lossSum / steps : 0,
        examples: steps ? this.partial.exampleSum / steps : 0,
        steps,
        seconds: (performance.now() - started) / 1000,
        truncated: this.partial.truncated,
      };
      this.history.push(record);
      this.loss = record.loss;
      this.metrics.loss = record.loss;
      // The epoch is done: a checkpoint written from here on resumes at the next one.
      this.position = { epoch: epoch + 1, step: 0, globalStep: this.position.globalStep };
      this.partial = emptyProgress();
      await this.hook('onEpochEnd', record);
      this.setup.onProgress?.({ phase: 'epoch-end', epoch, epochs, record });
      await this.agree();
      await this.stopIfInterrupted();
    }
    await this.hook('onTrainEnd');
  }

  /** Writes a checkpoint of the loop as it is now. */
  async checkpoint(): Promise<string> {
    if (this.setup.writeCheckpoint === undefined) throw new Error('TrainingCheckpoint needs a place for checkpoints: give fit checkpointDir or outputDir');
    const callbacks: Record<string, unknown> = {};
    for (const callback of this.setup.callbacks) {
      if (callback.state !== undefined) callbacks[callbackKey(callback, this.setup.callbacks)] = callback.state();
    }
    return this.setup.writeCheckpoint({
      position: this.position,
      partial: this.partial,
      history: this.history,
      metrics: this.metrics,
      callbacks,
    });
  }

  private async agree(): Promise<void> {
    if (this.setup.agree === undefined) return;
    const [stop, interrupted] = await this.setup.agree([this.stopped ? 1 : 0, this.setup.signal?.aborted ? 1 : 0]);
    this.stopped = stop! > 0;
    this.interruptAgreed = interrupted! > 0;
  }

  private async stopIfInterrupted(): Promise<void> {
    const signal = this.setup.signal;
    if (!(this.setup.agree ? this.interruptAgreed : signal?.aborted)) return;
    const checkpoint = this.setup.writeCheckpoint ? await this.checkpoint() : undefined;
    throw new TrainingInterruptedError(checkpoint, signal?.reason, this.setup.checkpointElsewhere);
  }

  private async hook(name: 'onTrainBegin' | 'onBatchEnd' | 'onEpochEnd' | 'onTrainEnd', record?: EpochRecord): Promise<void> {
    const { epoch, step } = this.position;
    const context: TrainingContext = {
      // onEpochEnd runs after the position moved on to the next epoch: report the epoch that ended.
      epoch: record ? record.epoch : Math.min(epoch, this.setup.epochs - 1),
      epochs: this.setup.epochs,
      step: record ? record.steps : step,
      steps: this.setup.task.batchesPerEpoch,
      globalStep: this.position.globalStep,
      totalSteps: this.setup.epochs * this.setup.task.batchesPerEpoch,
      loss: this.loss,
      learningRate: this.learningRate,
      metrics: this.metrics,
      record,
      history: this.history,
      model: this.setup.model,
      stop: false,
      saveCheckpoint: () => this.checkpoint(),
      saveModel: (kept) => this.setup.saveModel(kept, this.history),
      onProgress: this.setup.onProgress,
    };
    for (const callback of this.setup.callbacks) {
      const result = await callback[name]?.(context);
      if (context.stop || (result && typeof result === 'object' && result.stop === true)) this.stopped = true;
    }
  }
}

/** A callback's name in checkpoints: its `name`, numbered when several share it. */
export function callbackKey(callback: TrainingCallback, all: TrainingCallback[]): string {
  const name = callback.name ?? callback.constructor?.name ?? 'callback';
  const same = all.filter((other) => (other.name ?? other.constructor?.name ?? 'callback') === name);
  return same.length > 1 ? `${name}#${same.indexOf(callback)}` : name;
}

/** Hands each callback the state a checkpoint saved for it. */
export function restoreCallbacks(callbacks: TrainingCallback[], saved: Record<string, unknown>): void {
  for (const callback of callbacks) {
    const key = callbackKey(callback, callbacks);
    if (callback.restore !== undefined && Object.hasOwn(saved, key)) callback.restore(saved[key]);
  }
}
