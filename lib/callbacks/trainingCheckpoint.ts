// Writes resumable checkpoints (lib/checkpoints.ts: weights, optimizer, generator state, position,
// history) every N steps and/or after each epoch into fit's checkpointDir, keeping the last `keep`.
// It runs after every other callback of the same hook, so a checkpoint holds their updated state.
import type { TrainingCallback, TrainingContext } from './callback.js';

export interface TrainingCheckpointOptions {
  /** Write a checkpoint every N steps (counted over all epochs). */
  everySteps?: number;
  /** Write one after each epoch. Default true unless everySteps is given. */
  everyEpoch?: boolean;
  /** Checkpoints kept; older ones are removed. Default 3. */
  keep?: number;
}

function positive(value: unknown, option: string): void {
  if (value !== undefined && (!Number.isInteger(value) || (value as number) < 1)) {
    throw new TypeError(`TrainingCheckpoint: option '${option}' must be a positive integer, got ${JSON.stringify(value)}`);
  }
}

export class TrainingCheckpoint implements TrainingCallback {
  readonly name = 'trainingCheckpoint';
  readonly everySteps: number | undefined;
  readonly everyEpoch: boolean;
  readonly keep: number;

  constructor(options: TrainingCheckpointOptions = {}) {
    positive(options.everySteps, 'everySteps');
    positive(options.keep, 'keep');
    this.everySteps = options.everySteps;
    this.everyEpoch = options.everyEpoch ?? options.everySteps === undefined;
    this.keep = options.keep ?? 3;
  }

  async onBatchEnd(context: TrainingContext): Promise<void> {
    if (this.everySteps !== undefined && context.globalStep % this.everySteps === 0) await context.saveCheckpoint();
  }

  async onEpochEnd(context: TrainingContext): Promise<void> {
    if (this.everyEpoch) await context.saveCheckpoint();
  }
}
