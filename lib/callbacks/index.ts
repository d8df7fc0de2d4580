// The built-in training callbacks, listed once: fit() and lib/index.ts export the classes, and the CLI
// builds its flags, their --help lines and the callbacks themselves from BUILT_IN_CALLBACKS.
import { BestModelCheckpoint } from './bestModelCheckpoint.js';
import type { TrainingCallback } from './callback.js';
import type { NumberRange } from '../numericOption.js';
import { OPTION_RANGES } from '../optionRanges.js';
import { EarlyStopping } from './earlyStopping.js';
import { EvaluationCallback } from './evaluationCallback.js';
import { TrainingCheckpoint } from './trainingCheckpoint.js';
import { WiseFt } from './wiseFt.js';

export type { CallbackResult, KeptModel, TrainingCallback, TrainingContext } from './callback.js';
export type { MonitorMode, MonitorOptions } from './monitor.js';
export { BestModelCheckpoint, EarlyStopping, EvaluationCallback, TrainingCheckpoint, WiseFt };
export type { BestModelCheckpointOptions } from './bestModelCheckpoint.js';
export type { EarlyStoppingOptions } from './earlyStopping.js';
export type { EvaluationCallbackOptions, EvaluationRecord } from './evaluationCallback.js';
export type { TrainingCheckpointOptions } from './trainingCheckpoint.js';
export type { WiseFtOptions } from './wiseFt.js';

/** A CLI flag of a built-in callback (the shape of the CLI's OptionSpec). */
export interface CallbackFlag {
  type: 'string';
  value: string;
  description: string;
  default?: string;
}

/** How the CLI reads a flag's value; errors name the flag. */
export interface FlagReader {
  /** The flag's number, checked against the range of the option it sets (lib/optionRanges.ts). */
  number(flag: string, range: NumberRange): number | undefined;
  string(flag: string): string | undefined;
  choice<T extends string>(flag: string, choices: readonly T[]): T | undefined;
}

export interface BuiltInCallback {
  /** The class, for the README and --help. */
  className: string;
  summary: string;
  flags: Record<string, CallbackFlag>;
  /** The callback the flags ask for, or undefined when none of its flags is given. */
  fromFlags(read: FlagReader): TrainingCallback | undefined;
}

const MODES = ['max', 'min'] as const;

/** fit's own evalData and wiseFt options build EvaluationCallback and WiseFt; these have flags of their own. */
export const BUILT_IN_CALLBACKS: BuiltInCallback[] = [
  {
    className: 'BestModelCheckpoint',
    summary: 'keeps the best epoch in --output-dir instead of the last',
    flags: {
      'best-metric': { type: 'string', value: 'M', description: "keep the epoch with the best M: 'eval.map', 'eval.recallAtK', 'loss'...", default: 'off (the last epoch)' },
      'best-mode': { type: 'string', value: 'max|min', description: 'whether larger or smaller --best-metric is better', default: "min for 'loss', else max" },
    },
    fromFlags(read) {
      const monitor = read.string('best-metric');
      const mode = read.choice('best-mode', MODES);
      return monitor === undefined ? undefined : new BestModelCheckpoint({ monitor, mode });
    },
  },
  {
    className: 'EarlyStopping',
    summary: 'stops when a metric stops improving',
    flags: {
      'early-stopping-patience': { type: 'string', value: 'N', description: 'stop after N epochs without improvement', default: 'off' },
      'early-stopping-metric': { type: 'string', value: 'M', description: 'the metric early stopping watches', default: 'eval.map with --eval-data, else loss' },
      'early-stopping-mode': { type: 'string', value: 'max|min', description: 'whether larger or smaller is better', default: "min for 'loss', else max" },
      'early-stopping-min-delta': { type: 'string', value: 'X', description: 'the smallest change that counts as an improvement', default: '0' },
      'early-stopping-baseline': { type: 'string', value: 'X', description: 'a value the metric must beat', default: 'none' },
    },
    fromFlags(read) {
      const patience = read.number('early-stopping-patience', OPTION_RANGES.patience);
      if (patience === undefined) return undefined;
      return new EarlyStopping({
        patience,
        monitor: read.string('early-stopping-metric'),
        mode: read.choice('early-stopping-mode', MODES),
        minDelta: read.number('early-stopping-min-delta', OPTION_RANGES.minDelta),
        baseline: read.number('early-stopping-baseline', OPTION_RANGES.baseline),
      });
    },
  },
  {
    className: 'TrainingCheckpoint',
    summary: 'writes resumable checkpoints (see --resume)',
    flags: {
      'checkpoint-every': { type: 'string', value: 'N', description: 'write a resumable checkpoint every N steps (and after each epoch)', default: 'off' },
      'keep-checkpoints': { type: 'string', value: 'K', description: 'checkpoints kept; older ones are removed', default: '3' },
    },
    fromFlags(read) {
      const everySteps = read.number('checkpoint-every', OPTION_RANGES.everySteps);
      const keep = read.number('keep-checkpoints', OPTION_RANGES.keep);
      if (everySteps === undefined && keep === undefined) return undefined;
      return new TrainingCheckpoint({ everySteps, everyEpoch: true, keep });
    },
  },
];
