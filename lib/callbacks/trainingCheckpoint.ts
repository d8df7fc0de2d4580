// Writes resumable checkpoints (lib/checkpoints.ts: weights, optimizer, generator state, position,
// history) every N steps and/or after each epoch into fit's checkpointDir, keeping the last `keep`.
// It runs after every other callback of the same hook, so a checkpoint holds their updated state.
import type { TrainingCallback, TrainingContext } from './callback.js';
import { checkNumber } from '../numericOption.js';
import { OPTION_RANGES } from '../optionRanges.js';

export interface TrainingCheckpointOptions {
  /** Write a checkpoint every N steps (counted over all epochs). */
  everySteps?: number;
  /** Write one after each epoch. Default true unless everySteps is given. */
  everyEpoch?: boolean;
  /** Checkpoints kept; older ones are removed. Default 3. */
  keep?: number;
}

function positive(value: unknown, option: 'everySteps' | 'keep'): void {
  if (value !== undefined) checkNumber(value, `TrainingCheckpoint.${option}`, OPTION_RANGES[option]);
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
