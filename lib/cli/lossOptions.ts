// The fit verb's loss flags, --help lines and message names, all read from the loss descriptors
// (lib/losses/): a loss or an option added there appears here with no change.
import { LOSS_DATA_NAMES, LOSSES, lossOptionOwners, type LossOptionSpec } from '../losses/index.js';
import { choiceOption, numberOption, type OptionSpec, type ParsedArgs } from './command.js';

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

/** One flag per loss option name, e.g. --margin X. */
export const LOSS_FLAGS: Record<string, OptionSpec> = Object.fromEntries(
  [...lossOptionOwners()].map(([name, { option, losses, defaults }]) => [flagName(name), flagSpec(option, losses, defaults)]),
);

/** The loss options given on the command line, by fit()'s names; absent ones are undefined. */
export function readLossFlags(args: ParsedArgs): Record<string, number | string | undefined> {
  return Object.fromEntries(
    [...lossOptionOwners()].map(([name, { option }]) => [
      name,
      option.kind === 'number'
        ? numberOption(args, flagName(name), option)
        : choiceOption(args, flagName(name), option.choices),
    ]),
  );
}

/** fit()'s loss option names as the CLI spells them, for its error messages. */
export const LOSS_CLI_NAMES: Record<string, string> = Object.fromEntries(
  [...lossOptionOwners().keys()].map((name) => [name, `--${flagName(name)}`]),
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
  return `Losses (--loss; the first listed for a kind of data is its default):\n${lines.join('\n')}`;
}
