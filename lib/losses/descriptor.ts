// What a loss is to fit(), the CLI and its help: a descriptor per loss (one file each in this folder,
// listed once in index.ts), naming the loss exactly as its native file registers it
// (native/losses/<name>.cc), the data it trains on, and its options with defaults and ranges (checked by
// lib/numericOption.ts, as every numeric option is).

import { checkNumber, describeRange, isInRange, type NumberRange } from '../numericOption.js';

/**
 * The kind of training data a loss trains on; lib/trainingTasks.ts turns each into a step's input
 * batches and targets: 'labelled' (images or texts with a label), 'pairs' (query, document[, negative]),
 * 'scored' (text, text, score), 'margins' (query, positive, negative, teacher margin), 'text-image'
 * (caption, image; CLIP models).
 */
export type LossData = 'labelled' | 'pairs' | 'scored' | 'margins' | 'text-image';

/** How --help and the README name each kind of data. */
export const LOSS_DATA_NAMES: Record<LossData, string> = {
  labelled: 'labelled images or texts',
  pairs: 'query-document pairs',
  scored: 'scored text pairs',
  margins: 'query-positive-negative triples with a teacher margin',
  'text-image': 'text-image pairs (CLIP)',
};

interface LossOptionBase {
  /** As fit() takes it; the CLI flag is its kebab-case form. */
  name: string;
  /** One line for --help and the README. */
  description: string;
  /** Crosses to native code only when given (the native side applies the default shown). */
  onlyWhenGiven?: boolean;
}

export interface NumberLossOption extends LossOptionBase, NumberRange {
  kind: 'number';
  default: number;
}

export interface ChoiceLossOption extends LossOptionBase {
  kind: 'choice';
  default: string;
  choices: readonly string[];
}

export type LossOptionSpec = NumberLossOption | ChoiceLossOption;

/**
 * A list of numbers, each in range (MatryoshkaLoss's dims and weights). It has no default: left out, the
 * option is off.
 */
export interface NumberListLossOption extends LossOptionBase, NumberRange {
  kind: 'number-list';
}

export interface LossDescriptor {
  /** The name the native registry knows the loss by. */
  name: string;
  data: LossData;
  /** The input batches of a step, in the order the native loss takes them. */
  inputs: string;
  /** One value per row of a step. */
  targets: 'labels' | 'group ids' | 'scores' | 'margins';
  options: readonly LossOptionSpec[];
  /** One line for --help and the README. */
  summary: string;
}

/**
 * A loss that wraps whichever loss is chosen (MatryoshkaLoss): its options are fit()'s for every loss;
 * given, they make the native side wrap the loss (native/losses/matryoshka_loss.h).
 */
export interface LossWrapperDescriptor {
  name: string;
  options: readonly NumberListLossOption[];
  /** Checks across its options (given ones only), a TypeError naming them. */
  check(values: Readonly<Record<string, readonly number[]>>): void;
  /** One line for --help and the README. */
  summary: string;
}

/** The values a loss's options take when it crosses to native code. */
export type LossOptionValues = Record<string, number | string | readonly number[]>;

/** A number-list option's value: a non-empty array of numbers in range; a TypeError naming it otherwise. */
export function checkNumberList(option: NumberListLossOption, value: unknown): readonly number[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'number' && isInRange(v, option))) {
    throw new TypeError(`option '${option.name}' must be a non-empty array, each ${describeRange(option)}, got ${JSON.stringify(value)}`);
  }
  return value as readonly number[];
}

/** The option's value, or its default when undefined; a TypeError naming the option otherwise. */
export function checkLossOption(option: LossOptionSpec, value: unknown): number | string {
  if (value === undefined) return option.default;
  if (option.kind === 'choice') {
    if (typeof value !== 'string' || !option.choices.includes(value)) {
      throw new TypeError(`option '${option.name}' must be one of ${option.choices.join(', ')}, got ${JSON.stringify(value)}`);
    }
    return value;
  }
  return checkNumber(value, option.name, option);
}
