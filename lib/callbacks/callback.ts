// What a training callback is: an object with optional hooks that fit() awaits at the start of training,
// after each step, after each epoch and at the end. Built-in callbacks (evaluation, best-model and
// training checkpoints, early stopping, WiSE-FT) are callbacks like a user's; each lives in its own file
// beside this one, and index.ts lists them for fit() and the CLI.
import type { EpochRecord, FitProgress } from '../fit.js';
import type { EmbeddingModel } from '../model.js';

/** What fit() knows at a hook; `stop = true` (or returning { stop: true }) ends the run. */
export interface TrainingContext {
  /** 0-based epoch. */
  readonly epoch: number;
  readonly epochs: number;
  /** Steps done in this epoch (onBatchEnd: including this one). */
  readonly step: number;
  /** Steps per epoch. */
  readonly steps: number;
  /** Steps done over all epochs. */
  readonly globalStep: number;
  readonly totalSteps: number;
  /** onBatchEnd: this step's loss; onEpochEnd and onTrainEnd: the last epoch's mean loss. */
  readonly loss: number;
  /** The learning rate of the last step. */
  readonly learningRate: number;
  /**
   * Latest values by name: 'loss' (as above), and each evaluation's metrics under its name
   * ('eval.map', 'eval.precisionAtK', 'eval.imageToText.map', ...). Monitors read these.
   */
  readonly metrics: Record<string, number>;
  /** onEpochEnd: this epoch's record (already in `history`); callbacks may add to it. */
  readonly record?: EpochRecord;
  readonly history: readonly EpochRecord[];
  readonly model: EmbeddingModel;
  /** Set to true to end training after this hook (the current epoch ends where it is). */
  stop: boolean;
  /** Writes a resumable checkpoint now (TrainingCheckpoint); resolves to its directory. */
  saveCheckpoint(): Promise<string>;
  /**
   * Writes the model as it is now to fit's outputDir (BestModelCheckpoint), with the training record so
   * far; `kept` names why, and fit then keeps this model in outputDir instead of the last one.
   */
  saveModel(kept: KeptModel): Promise<void>;
  /** fit's progress callback, for callbacks that report progress (evaluation). */
  readonly onProgress?: (event: FitProgress) => void;
}

/** Which model BestModelCheckpoint kept, recorded in the saved finetuner.json and FitResult. */
export interface KeptModel {
  epoch: number;
  globalStep: number;
  monitor: string;
  value: number;
}

export type CallbackResult = void | { stop?: boolean } | Promise<void | { stop?: boolean }>;

export interface TrainingCallback {
  /** Names the callback in checkpoints (its saved state is restored by name) and errors. */
  readonly name?: string;
  onTrainBegin?(context: TrainingContext): CallbackResult;
  onBatchEnd?(context: TrainingContext): CallbackResult;
  onEpochEnd?(context: TrainingContext): CallbackResult;
  onTrainEnd?(context: TrainingContext): CallbackResult;
  /** JSON-serialisable state written into checkpoints, handed to restore() when a run resumes. */
  state?(): unknown;
  restore?(state: unknown): void;
}
