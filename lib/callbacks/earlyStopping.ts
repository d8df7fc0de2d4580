// Stops training when the monitored metric has not improved for `patience` epochs (Keras' EarlyStopping:
// an improvement must beat the best by more than minDelta; with a baseline, the best starts there, so a
// run that never beats it stops after `patience` epochs).
import type { TrainingCallback, TrainingContext } from './callback.js';
import { checkNumber, numberOr } from '../numericOption.js';
import { OPTION_RANGES } from '../optionRanges.js';
import { Monitor, type MonitorOptions } from './monitor.js';

export interface EarlyStoppingOptions extends MonitorOptions {
  /** Epochs without improvement before stopping. Default 3. */
  patience?: number;
  /** The smallest change that counts as an improvement. Default 0. */
  minDelta?: number;
  /** A value the metric must beat; default none. */
  baseline?: number;
}

export class EarlyStopping implements TrainingCallback {
  readonly name = 'earlyStopping';
  readonly monitor: Monitor;
  readonly patience: number;
  readonly minDelta: number;
  best: number | undefined;
  /** Epochs since the last improvement. */
  wait = 0;
  /** The epoch after which it stopped training, if it did. */
  stoppedEpoch: number | undefined;

  /** monitor default: 'eval.map' with evalData, else 'loss' (the epoch's mean training loss, mode 'min'). */
  constructor(options: EarlyStoppingOptions = {}) {
    this.monitor = new Monitor(options, 'EarlyStopping');
    this.patience = numberOr(options.patience, 'EarlyStopping.patience', OPTION_RANGES.patience, 3);
    this.minDelta = Math.abs(numberOr(options.minDelta, 'EarlyStopping.minDelta', OPTION_RANGES.minDelta, 0));
    this.best = options.baseline === undefined ? undefined : checkNumber(options.baseline, 'EarlyStopping.baseline', OPTION_RANGES.baseline);
  }

  onEpochEnd(context: TrainingContext): void {
    const value = this.monitor.read(context);
    if (this.monitor.improves(value, this.best, this.minDelta)) {
      this.best = value;
      this.wait = 0;
      return;
    }
    this.wait++;
    if (this.wait >= this.patience) {
      this.stoppedEpoch = context.epoch;
      context.stop = true;
    }
  }

  state(): unknown {
    return { best: this.best, wait: this.wait, stoppedEpoch: this.stoppedEpoch };
  }

  restore(state: unknown): void {
    const saved = state as { best?: number; wait?: number; stoppedEpoch?: number } | undefined;
    if (saved === undefined) return;
    this.best = saved.best;
    this.wait = saved.wait ?? 0;
    this.stoppedEpoch = saved.stoppedEpoch;
  }
}
