// What a loss is to fit(), the CLI and its help: a descriptor per loss (one file each in this folder,
// listed once in index.ts), naming the loss exactly as its native file registers it
// (native/losses/<name>.cc), the data it trains on, and its options with defaults and range checks.

/**
 * The kind of training data a loss trains on; lib/trainingTasks.ts turns each into a step's input
 * batches and targets: 'labelled' (images or texts with a label), 'pairs' (query, document[, negative]),
 * 'scored' (text, text, score), 'text-image' (caption, image; CLIP models).
 */
export type LossData = 'labelled' | 'pairs' | 'scored' | 'text-image';

/** How --help and the README name each kind of data. */
export const LOSS_DATA_NAMES: Record<LossData, string> = {
  labelled: 'labelled images or texts',
  pairs: 'query-document pairs',
  scored: 'scored text pairs',
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

export interface NumberLossOption extends LossOptionBase {
  kind: 'number';
  default: number;
  min: number;
  /** The value must be above min rather than at least min. */
  minExclusive?: boolean;
  max?: number;
}

export interface ChoiceLossOption extends LossOptionBase {
  kind: 'choice';
  default: string;
  choices: readonly string[];
}

export type LossOptionSpec = NumberLossOption | ChoiceLossOption;

export interface LossDescriptor {
  /** The name the native registry knows the loss by. */
  name: string;
  data: LossData;
  /** The input batches of a step, in the order the native loss takes them. */
  inputs: string;
  /** One value per row of a step. */
  targets: 'labels' | 'group ids' | 'scores';
  options: readonly LossOptionSpec[];
  /** One line for --help and the README. */
  summary: string;
}

/** The values a loss's options take when it crosses to native code. */
export type LossOptionValues = Record<string, number | string>;

/** "a positive number", "a number in [0, 1]": what a number option accepts, for messages. */
export function numberRange(option: NumberLossOption): string {
  if (option.max === undefined) {
    if (option.min === 0) return option.minExclusive ? 'a positive number' : 'a number >= 0';
    return `a number ${option.minExclusive ? '>' : '>='} ${option.min}`;
  }
  return `a number in ${option.minExclusive ? '(' : '['}${option.min}, ${option.max}]`;
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
  const inRange =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (option.minExclusive ? value > option.min : value >= option.min) &&
    (option.max === undefined || value <= option.max);
  if (!inRange) throw new TypeError(`option '${option.name}' must be ${numberRange(option)}, got ${JSON.stringify(value)}`);
  return value as number;
}
