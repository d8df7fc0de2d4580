// What every verb of the CLI shares: its declaration (options with help text and defaults), argv parsing
// with node:util parseArgs, strict value parsers that name the option, and the help text. A verb module
// exports one `Command`; main.ts only dispatches.

import { existsSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { describeRange, isInRange, type NumberRange } from '../numericOption.js';
import { DEFAULT_ENCODE_PRECISION, DEFAULT_TRAINING_PRECISION, PRECISIONS, TRAINING_PRECISIONS } from '../precision.js';

/** Bad command-line usage: main prints the message and the verb's usage, and exits with code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder of the value in the help, e.g. 'N', 'DIR'. */
  value?: string;
  description: string;
  /** Shown in the help as "(default: ...)"; the verb applies it (or leaves it to the library). */
  default?: string;
  required?: boolean;
  /** Why a required option is needed, appended to the "missing" message. */
  requiredWhy?: string;
  /** May be given more than once (the value is then a list; read it with stringList). */
  multiple?: boolean;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export interface Command {
  name: string;
  summary: string;
  /** Usage lines, without the leading "finetuner ". */
  usage: string[];
  /** A paragraph under the usage in `--help`. */
  details?: string;
  options: Record<string, OptionSpec>;
  /** How many positional arguments the verb takes (default none), and what the first is called. */
  positionals?: { min: number; max: number; name?: string };
  /**
   * The verb runs another command line (launch): its own options come first, and the first argument
   * that is not one of them (or everything after `--`) is passed on untouched, in `positionals`.
   */
  passThrough?: boolean;
  run(args: ParsedArgs): Promise<void>;
}

const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', description: 'show this help' };

/** argv asks for help (before any `--`, after which everything is a positional; a pass-through verb: among its own options). */
export function wantsHelp(argv: readonly string[], command?: Command): boolean {
  const own = command?.passThrough ? splitPassThrough(command, argv).own : argv;
  const end = own.indexOf('--');
  return (end < 0 ? own : own.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/**
 * A pass-through verb's argv cut in two: its own options (each string option's value included), and the
 * command line it passes on, from the first other argument or after `--`.
 */
export function splitPassThrough(command: Command, argv: readonly string[]): { own: string[]; rest: string[] } {
  const specs: Record<string, OptionSpec> = { ...command.options, help: HELP_OPTION };
  const takesValue = (arg: string): boolean => {
    if (arg.includes('=')) return false;
    const spec = arg.startsWith('--') ? specs[arg.slice(2)] : Object.values(specs).find((s) => s.short !== undefined && `-${s.short}` === arg);
    return spec?.type === 'string';
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return { own: argv.slice(0, i), rest: argv.slice(i + 1) };
    if (!arg.startsWith('-') || arg === '-') return { own: argv.slice(0, i), rest: argv.slice(i) };
    if (takesValue(arg)) i++;
  }
  return { own: [...argv], rest: [] };
}

/** Parses a verb's argv; every problem becomes a UsageError naming the option or argument. */
export function parseCommandArgs(command: Command, argv: string[]): ParsedArgs {
  if (command.passThrough) {
    const { own, rest } = splitPassThrough(command, argv);
    const parsed = parseCommandArgs({ ...command, passThrough: false, positionals: { min: 0, max: 0 } }, own);
    return { values: parsed.values, positionals: rest };
  }
  const options = Object.fromEntries(
    Object.entries({ ...command.options, help: HELP_OPTION }).map(([name, spec]) => [
      name,
      { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) },
    ]),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(rephraseParseError(error as Error & { code?: string }));
  }
  const values = parsed.values as ParsedArgs['values'];
  const { min, max } = command.positionals ?? { min: 0, max: 0 };
  if (parsed.positionals.length > max) {
    const extra = parsed.positionals[max]!;
    throw new UsageError(`unexpected argument '${extra}'${max === 0 ? ` (${command.name} takes no arguments)` : ''}`);
  }
  if (parsed.positionals.length < min) throw new UsageError(`missing argument ${command.positionals?.name ?? ''}`.trimEnd());
  for (const [name, spec] of Object.entries(command.options)) {
    if (spec.required && values[name] === undefined) {
      const why = spec.requiredWhy ? `: ${spec.requiredWhy}` : '';
      throw new UsageError(`missing required option --${name}${spec.value ? ` ${spec.value}` : ''}${why}`);
    }
  }
  return { values, positionals: parsed.positionals };
}

// parseArgs' messages suggest JavaScript-level fixes ("place it at the end of the command after '--'");
// the CLI says which option is wrong in its own words.
function rephraseParseError(error: Error & { code?: string }): string {
  const option = /'(-[^' ]+)/.exec(error.message)?.[1];
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${option ?? error.message}'`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(error.message)) return `option ${option} is a flag and takes no value`;
      if (/argument is ambiguous/.test(error.message)) {
        return `option ${option} needs a value; for a value that starts with '-', write ${option}=VALUE`;
      }
      return `option ${option} needs a value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument: ${error.message}`;
    default:
      return error.message;
  }
}

/** The help text of a verb: usage, details, then every option with its default. */
export function commandHelp(command: Command): string {
  const lines = command.usage.map((u, i) => `${i === 0 ? 'Usage: ' : '       '}finetuner ${u}`);
  lines.push('', command.summary);
  if (command.details) lines.push('', command.details);
  const entries = Object.entries({ ...command.options, help: HELP_OPTION }).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.value ? ` ${spec.value}` : ''}`;
    const notes = [spec.required ? 'required' : '', spec.default !== undefined ? `default: ${spec.default}` : '']
      .filter(Boolean)
      .join('; ');
    return { flag, text: `${spec.description}${notes ? ` (${notes})` : ''}` };
  });
  const width = Math.max(...entries.map((e) => e.flag.length)) + 2;
  lines.push('', 'Options:', ...entries.map((e) => `  ${e.flag.padEnd(width)}${e.text}`));
  return `${lines.join('\n')}\n`;
}

// --- value parsers: each returns undefined when the option is absent, so the library default applies ---

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new UsageError(`option --${name} needs a non-empty value`);
  return value;
}

export function requiredString(args: ParsedArgs, name: string, why?: string): string {
  const value = stringOption(args, name);
  if (value === undefined) throw new UsageError(`missing required option --${name}${why ? `: ${why}` : ''}`);
  return value;
}

/** A file option, checked up front so the message names the option rather than only the path. */
export function existingFile(args: ParsedArgs, name: string): string | undefined {
  const path = stringOption(args, name);
  if (path === undefined) return undefined;
  if (!existsSync(path)) throw new Error(`--${name} ${path}: file not found`);
  if (!statSync(path).isFile()) throw new Error(`--${name} ${path}: not a file`);
  return path;
}

/** A file or directory option (e.g. a checkpoint file or a Hugging Face model folder), checked up front. */
export function existingPath(args: ParsedArgs, name: string): string | undefined {
  const path = stringOption(args, name);
  if (path === undefined) return undefined;
  if (!existsSync(path)) throw new Error(`--${name} ${path}: no such file or directory`);
  return path;
}

/** Every value of an option given more than once (`multiple`), each non-empty. */
export function stringList(args: ParsedArgs, name: string): string[] {
  const value = args.values[name];
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  for (const v of values) if (typeof v !== 'string' || v === '') throw new UsageError(`option --${name} needs a non-empty value`);
  return values as string[];
}

export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

const INTEGER = /^[+-]?\d+$/;
// Decimal or scientific notation only: Number() would also accept '', '0x10', 'Infinity' and ' 1 '.
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function integerOption(args: ParsedArgs, name: string, min: number): number | undefined {
  return numberOption(args, name, { integer: true, min });
}

/** The option's value parsed and checked against `range` (the one fit() or the loss descriptor uses). */
export function numberOption(args: ParsedArgs, name: string, range: NumberRange): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!(range.integer ? INTEGER : DECIMAL).test(text) || !isInRange(value, range)) {
    throw new UsageError(`option --${name} must be ${describeRange(range)}, got '${text}'`);
  }
  return value;
}

export function choiceOption<T extends string>(args: ParsedArgs, name: string, choices: readonly T[]): T | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`option --${name} must be one of ${choices.join(', ')}, got '${text}'`);
  }
  return text as T;
}

export const DEVICES = ['cpu', 'cuda', 'auto'] as const;

export const DEVICE_OPTION: OptionSpec = {
  type: 'string',
  value: 'D',
  description: 'cpu, cuda or auto (CUDA when LibTorch sees a GPU)',
  default: 'auto',
};

/** Writes to stdout (results); progress and notes go to stderr so stdout stays pipeable. */
export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function note(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Options of the verbs that load a model and encode with it (encode, eval, serve). */
export { PRECISIONS, TRAINING_PRECISIONS };
export const PRECISION_OPTION: OptionSpec = {
  type: 'string', value: 'P', description: 'encode precision: auto (bf16 where the hardware has it, else fp32), fp32, bf16, fp16 (CUDA) or int8 (quantized linear layers, CPU)', default: DEFAULT_ENCODE_PRECISION,
};
/** fit's: the precision of its training forwards (int8 is encode-only). */
export const TRAINING_PRECISION_OPTION: OptionSpec = {
  type: 'string', value: 'P', description: `training precision: ${TRAINING_PRECISIONS.join(', ')} (auto: bf16 where the hardware has it)`, default: DEFAULT_TRAINING_PRECISION,
};

export const ENCODING_OPTIONS: Record<string, OptionSpec> = {
  'batch-size': { type: 'string', value: 'N', description: 'inputs per native call', default: '32' },
  'image-size': { type: 'string', value: 'N', description: 'image models: input side in pixels', default: "the model's" },
  'max-length': { type: 'string', value: 'N', description: 'text models: tokens per text (longer texts are truncated)', default: "the model's" },
  device: DEVICE_OPTION,
  precision: PRECISION_OPTION,
};
