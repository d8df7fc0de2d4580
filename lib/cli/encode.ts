// finetuner encode: images or texts to a float32 .npy matrix, one row per input in input order.
import { existsSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { INPUT_KINDS, modalityNamed, type InputKind, type InputKindUnit } from '../modalities/index.js';
import type { EmbeddingModel, Embeddings } from '../model.js';
import { writeNpy } from '../npy.js';
import { interruptSignal } from './interrupt.js';
import { ENCODING_OPTIONS, DEVICES, PRECISIONS, UsageError, choiceOption, numberOption, note, out, requiredString, stringOption, type Command } from './command.js';
import { OPTION_RANGES } from '../optionRanges.js';
import { checkModelFlags, peekModelDir } from './modelDir.js';
import { PhasedProgress } from './progressBars.js';

export const encodeCommand: Command = {
  name: 'encode',
  summary: 'Encode images or texts into embeddings and write them as a float32 .npy matrix (rows in input order).',
  usage: [
    'encode --model DIR [--out FILE.npy] [options] IMAGE...|TEXT...',
    'encode --model DIR --input-list FILE [--out FILE.npy] [options]',
  ],
  details:
    'The inputs follow the model: image paths for an image model, texts for a text model (one quoted\n' +
    'argument per text; put -- before texts that start with -). With --input-list, an image model reads\n' +
    'one image path per line (relative to the list; blank lines and # comments skipped), a text model one\n' +
    'text per line (an empty line is an error); the list is read line by line and the .npy is written as\n' +
    'it is encoded, so memory stays flat however long the list. A CLIP (text-to-image) model encodes\n' +
    'either into its shared space: --input-type text|image says which (default: images when every input\n' +
    'is an existing image file, else texts). Read the result in Python with numpy.load(FILE); it has\n' +
    'shape (inputs, output dim).',
  positionals: { min: 0, max: Number.POSITIVE_INFINITY },
  options: {
    model: { type: 'string', value: 'DIR', description: 'saved model or exported backbone directory', required: true },
    'input-list': { type: 'string', value: 'FILE', description: 'text file with one image path or one text per line' },
    out: { type: 'string', value: 'FILE', description: 'the .npy file to write', default: 'embeddings.npy' },
    'input-type': { type: 'string', value: 'KIND', description: 'CLIP models: text or image', default: 'by the inputs' },
    ...ENCODING_OPTIONS,
  },
  async run(args) {
    const modelDir = requiredString(args, 'model');
    const outFile = stringOption(args, 'out') ?? 'embeddings.npy';
    const batchSize = numberOption(args, 'batch-size', OPTION_RANGES.batchSize);
    const imageSize = numberOption(args, 'image-size', OPTION_RANGES.imageSize);
    const maxLength = numberOption(args, 'max-length', OPTION_RANGES.maxLength);
    const device = choiceOption(args, 'device', DEVICES);
    const precision = choiceOption(args, 'precision', PRECISIONS);
    const list = stringOption(args, 'input-list');
    const inputType = choiceOption(args, 'input-type', ['text', 'image'] as const satisfies readonly InputKind[]);
    if (list !== undefined && args.positionals.length > 0) {
      throw new UsageError('pass inputs either as arguments or with --input-list, not both');
    }
    if (list === undefined && args.positionals.length === 0) {
      throw new UsageError('nothing to encode: pass IMAGE... or TEXT... arguments, or --input-list FILE');
    }
    if (!existsSync(dirname(resolve(outFile)))) throw new Error(`--out ${outFile}: directory ${dirname(resolve(outFile))} does not exist`);
    const info = await peekModelDir(modelDir);
    checkModelFlags(info, modelDir, { 'image-size': imageSize, 'max-length': maxLength, 'input-type': inputType });

    const { loadModel } = await import('../loadModel.js'); // sharp and the addon load only for verbs that need them
    // Inputs are checked before the model loads when finetuner.json says what they are; otherwise the
    // loaded model's modality decides. An --input-list is read line by line (checked and counted first,
    // then streamed into the .npy file), so a list of any length encodes in flat memory.
    const kindOf = async (modality: EmbeddingModel['modality']): Promise<InputKindUnit> => {
      const kinds = modalityNamed(modality).inputs;
      if (kinds.length === 1) return kinds[0]!;
      const chosen = inputType ?? (await guessInputKind(list, args.positionals));
      return INPUT_KINDS.find((unit) => unit.kind === chosen)!;
    };
    let kind = info ? await kindOf(info.modality.name) : undefined;
    let inputs = kind ? await checkInputs(kind, list, args.positionals) : undefined;
    const model = await loadModel(modelDir, { device, imageSize, maxLength, precision });
    const progress = new PhasedProgress();
    try {
      kind ??= await kindOf(model.modality);
      inputs ??= await checkInputs(kind, list, args.positionals);
      let rows: number;
      let dim: number;
      if (Array.isArray(inputs)) {
        const embeddings = await encode(model, kind, inputs, batchSize, progress);
        progress.finish();
        interruptSignal().throwIfAborted();
        await writeNpy(outFile, embeddings.data, [embeddings.rows, embeddings.dim]);
        ({ rows, dim } = embeddings);
      } else {
        ({ rows, dim } = await encodeList(model, kind, list!, inputs.count, outFile, batchSize, progress));
      }
      out(`wrote ${outFile}: ${rows} x ${dim} float32 (${model.name}, ${model.device})`);
    } finally {
      progress.finish();
      model.dispose();
    }
  },
};

async function encode(model: EmbeddingModel, kind: InputKindUnit, inputs: string[], batchSize: number | undefined, progress: PhasedProgress): Promise<Embeddings> {
  let truncated = 0;
  const embeddings = await model.encodeInputs(kind.kind, inputs, {
    batchSize,
    onBatch: (done, cut) => {
      truncated = cut;
      progress.update('encode', 'encode', done, inputs.length, kind.progressUnit, cut > 0 ? { truncated: cut } : undefined);
    },
  });
  progress.finish();
  if (truncated > 0) note(`${truncated} of ${inputs.length} text(s) were truncated to ${model.tokenizer.maxLength} tokens`);
  return embeddings;
}

/** Streams an --input-list into the .npy file: one batch in memory at a time. */
async function encodeList(
  model: EmbeddingModel, kind: InputKindUnit, list: string, count: number, outFile: string, batchSize: number | undefined, progress: PhasedProgress,
): Promise<{ rows: number; dim: number }> {
  let truncated = 0;
  const result = await model.encodeStream(listEntries(kind, list), {
    out: outFile,
    signal: interruptSignal(),
    batchSize,
    kind: kind.kind,
    onProgress: (p) => {
      truncated = p.truncated ?? 0;
      progress.update('encode', 'encode', p.done, count, kind.progressUnit, truncated > 0 ? { truncated } : undefined);
    },
  });
  progress.finish();
  if (truncated > 0) note(`${truncated} of ${result.rows} text(s) were truncated to ${model.tokenizer.maxLength} tokens`);
  return result;
}

/** A model of several input kinds (CLIP) without --input-type: images when every input names an existing file, else texts. */
async function guessInputKind(list: string | undefined, positionals: string[]): Promise<InputKind> {
  const base = list !== undefined ? dirname(resolve(list)) : process.cwd();
  const isFile = (p: string) => {
    const path = isAbsolute(p) ? p : resolve(base, p);
    return existsSync(path) && statSync(path).isFile();
  };
  if (list === undefined) return positionals.length > 0 && positionals.every(isFile) ? 'image' : 'text';
  let any = false;
  for await (const { line } of listLines(list)) {
    const entry = line.trim();
    if (entry === '' || entry.startsWith('#')) continue;
    if (!isFile(entry)) return 'text';
    any = true;
  }
  return any ? 'image' : 'text';
}

/** Positional inputs, checked; or, for an --input-list, its entries checked and counted (not kept). */
async function checkInputs(kind: InputKindUnit, list: string | undefined, positionals: string[]): Promise<string[] | { count: number }> {
  if (list === undefined) return ARGUMENTS[kind.kind].check(positionals);
  let count = 0;
  for await (const _ of listEntries(kind, list)) count++;
  if (count === 0) throw new UsageError(`--input-list ${list} lists no ${kind.plural}`);
  return { count };
}

function checkImageArgs(paths: string[]): string[] {
  for (const path of paths) {
    if (!existsSync(path)) throw new Error(`image not found: ${path}`);
    if (!statSync(path).isFile()) throw new Error(`not a file: ${path}`);
  }
  return paths;
}

function checkTextArgs(texts: string[]): string[] {
  texts.forEach((text, i) => {
    if (text.trim() === '') throw new Error(`text argument ${i + 1} is empty`);
  });
  return texts;
}

/** The lines of a list file, read as a stream, with their 1-based numbers (a leading BOM removed). */
async function* listLines(file: string): AsyncGenerator<{ line: string; number: number }> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`cannot read --input-list ${file}: ${code === 'ENOENT' ? 'file not found' : (error as Error).message}`);
  }
  try {
    let number = 0;
    for await (const line of handle.readLines({ encoding: 'utf8' })) {
      number++;
      yield { line: number === 1 ? line.replace(/^\uFEFF/, '') : line, number };
    }
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** How the CLI reads each kind of input: as arguments, and as the lines of an --input-list. */
const ARGUMENTS: Record<InputKind, {
  check(args: string[]): string[];
  /** The entry of list line `raw` (number `number`), or undefined to skip the line. */
  listEntry(raw: string, number: number, file: string, base: string): string | undefined;
}> = {
  // One path per line; blank lines and lines starting with # are skipped; relative paths are relative
  // to the list.
  image: {
    check: checkImageArgs,
    listEntry(raw, number, file, base) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return undefined;
      const path = isAbsolute(line) ? line : resolve(base, line);
      if (!existsSync(path)) throw new Error(`${file} line ${number}: image not found: ${line}`);
      return path;
    },
  },
  // One text per line, taken as written (a line starting with # is a text too); an empty line is an error.
  text: {
    check: checkTextArgs,
    listEntry(raw, number, file) {
      if (raw.trim() === '') {
        throw new Error(`${file} line ${number}: empty line; a text model's --input-list has one non-empty text per line`);
      }
      return raw;
    },
  },
};

/** The entries of an --input-list, checked as they are read. */
async function* listEntries(kind: InputKindUnit, file: string): AsyncGenerator<string> {
  const base = dirname(resolve(file));
  for await (const { line, number } of listLines(file)) {
    const entry = ARGUMENTS[kind.kind].listEntry(line, number, file, base);
    if (entry !== undefined) yield entry;
  }
}
