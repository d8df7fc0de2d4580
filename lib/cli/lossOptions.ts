// The fit verb's loss flags, --help lines and message names, all read from the loss descriptors
// (lib/losses/): a loss or an option added there appears here with no change.
import { LOSS_DATA_NAMES, LOSS_WRAPPERS, LOSSES, lossOptionOwners, type LossOptionSpec, type NumberListLossOption } from '../losses/index.js';
import { describeRange, isInRange } from '../numericOption.js';
import { choiceOption, numberOption, stringOption, UsageError, type OptionSpec, type ParsedArgs } from './command.js';

/** 'numItemsPerClass' -> 'num-items-per-class'. */
function flagName(option: string): string {
  return option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** "0.2", or per loss where they differ: "l2 (TripletMarginLoss, ContrastiveLoss), cosine (NTXentLoss)". */
function defaultsText(losses: readonly string[], defaults: readonly (number | string)[]): string {
  const unique = [...new Set(defaults.map(String))];
  if (unique.length === 1) return unique[0]!;
  return unique.map((value) => `${value} (${losses.filter((_, i) => String(defaults[i]) === value).join(', ')})`).join(', ');
}

function flagSpec(option: LossOptionSpec, losses: readonly string[], defaults: readonly (number | string)[]): OptionSpec {
  return {
    type: 'string',
    value: option.kind === 'number' ? 'X' : option.name[0]!.toUpperCase(),
    description: `${losses.join(', ')}: ${option.description}`,
    default: defaultsText(losses, defaults),
  };
}

const WRAPPER_OPTIONS: readonly NumberListLossOption[] = LOSS_WRAPPERS.flatMap((wrapper) => wrapper.options);

/** One flag per loss option name, e.g. --margin X; the wrappers' lists as --matryoshka-dims 64,32. */
export const LOSS_FLAGS: Record<string, OptionSpec> = Object.fromEntries([
  ...[...lossOptionOwners()].map(([name, { option, losses, defaults }]) => [flagName(name), flagSpec(option, losses, defaults)]),
  ...WRAPPER_OPTIONS.map((option) => [flagName(option.name), { type: 'string', value: 'X,Y,...', description: `any loss: ${option.description}` }]),
]);

/** '64,32,16' -> [64, 32, 16], each checked as the option's range says. */
function numberListOption(args: ParsedArgs, option: NumberListLossOption): number[] | undefined {
  const name = flagName(option.name);
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  const values = text.split(',').map((part) => (/^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(part) ? Number(part) : Number.NaN));
  if (!values.every((value) => isInRange(value, option))) {
    throw new UsageError(`option --${name} must be a comma-separated list, each ${describeRange(option)}, got '${text}'`);
  }
  return values;
}

/** The loss options given on the command line, by fit()'s names; absent ones are undefined. */
export function readLossFlags(args: ParsedArgs): Record<string, number | string | number[] | undefined> {
  return Object.fromEntries([
    ...[...lossOptionOwners()].map(([name, { option }]) => [
      name,
      option.kind === 'number'
        ? numberOption(args, flagName(name), option)
        : choiceOption(args, flagName(name), option.choices),
    ]),
    ...WRAPPER_OPTIONS.map((option) => [option.name, numberListOption(args, option)]),
  ]);
}

/** fit()'s loss option names as the CLI spells them, for its error messages. */
export const LOSS_CLI_NAMES: Record<string, string> = Object.fromEntries(
  [...lossOptionOwners().keys(), ...WRAPPER_OPTIONS.map((option) => option.name)].map((name) => [name, `--${flagName(name)}`]),
);

/** Words of `text` in lines of at most `width` characters, each after `indent`. */
function wrap(text: string, indent: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(indent + line);
  return lines;
}

/** The --help paragraph listing every loss: name, data and flags, then what it computes. */
export function lossesHelp(): string {
  const lines = LOSSES.flatMap((loss) => {
    const flags = loss.options.map((option: LossOptionSpec) => `--${flagName(option.name)}`).join(', ');
    return [`  ${loss.name}: ${LOSS_DATA_NAMES[loss.data]}${flags ? `; ${flags}` : ''}`, ...wrap(loss.summary, '      ', 104)];
  });
  const wrappers = LOSS_WRAPPERS.flatMap((wrapper) => [
    `  ${wrapper.name} (wraps any loss): ${wrapper.options.map((option) => `--${flagName(option.name)}`).join(', ')}`,
    ...wrap(wrapper.summary, '      ', 104),
  ]);
  return `Losses (--loss; the first listed for a kind of data is its default):\n${[...lines, ...wrappers].join('\n')}`;
}
