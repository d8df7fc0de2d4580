// finetuner encode: images or texts to a float32 .npy matrix, one row per input in input order.
import { existsSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { EmbeddingModel, Embeddings } from '../model.js';
import { writeNpy } from '../npy.js';
import { interruptSignal } from './interrupt.js';
import { ENCODING_OPTIONS, DEVICES, PRECISIONS, UsageError, choiceOption, integerOption, note, out, requiredString, stringOption, type Command } from './command.js';
import { checkModalityOptions, peekModelDir } from './modelDir.js';
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
    const batchSize = integerOption(args, 'batch-size', 1);
    const imageSize = integerOption(args, 'image-size', 1);
    const maxLength = integerOption(args, 'max-length', 1);
    const device = choiceOption(args, 'device', DEVICES);
    const precision = choiceOption(args, 'precision', PRECISIONS);
    const list = stringOption(args, 'input-list');
    const inputType = choiceOption(args, 'input-type', ['text', 'image'] as const);
    if (list !== undefined && args.positionals.length > 0) {
      throw new UsageError('pass inputs either as arguments or with --input-list, not both');
    }
    if (list === undefined && args.positionals.length === 0) {
      throw new UsageError('nothing to encode: pass IMAGE... or TEXT... arguments, or --input-list FILE');
    }
    if (!existsSync(dirname(resolve(outFile)))) throw new Error(`--out ${outFile}: directory ${dirname(resolve(outFile))} does not exist`);
    const info = await peekModelDir(modelDir);
    checkModalityOptions(info, modelDir, { image: { 'image-size': imageSize }, text: { 'max-length': maxLength } });
    if (inputType !== undefined && info !== undefined && info.modality !== 'text-image') {
      throw new UsageError(`--input-type applies to CLIP (text-to-image) models; --model ${modelDir} is ${info.modality === 'text' ? 'a text' : 'an image'} model (${info.name})`);
    }

    const { loadModel } = await import('../loadModel.js'); // sharp and the addon load only for verbs that need them
    // Inputs are checked before the model loads when finetuner.json says what they are; otherwise the
    // loaded model's modality decides. An --input-list is read line by line (checked and counted first,
    // then streamed into the .npy file), so a list of any length encodes in flat memory.
    const kindOf = async (modality: EmbeddingModel['modality']) =>
      modality !== 'text-image' ? modality : inputType ?? (await guessClipInputs(list, args.positionals));
    let kind = info ? await kindOf(info.modality) : undefined;
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

async function encode(model: EmbeddingModel, kind: 'image' | 'text', inputs: string[], batchSize: number | undefined, progress: PhasedProgress): Promise<Embeddings> {
  if (kind === 'image') {
    return model.encodeImage(inputs, { batchSize, onProgress: (done, total) => progress.update('encode', 'encode', done, total, 'img') });
  }
  let truncated = 0;
  const embeddings = await model.encodeTexts(inputs, {
    batchSize,
    onProgress: (p) => {
      truncated = p.truncated;
      progress.update('encode', 'encode', p.done, p.total, 'text', p.truncated > 0 ? { truncated: p.truncated } : undefined);
    },
  });
  progress.finish();
  if (truncated > 0) note(`${truncated} of ${inputs.length} text(s) were truncated to ${model.tokenizer.maxLength} tokens`);
  return embeddings;
}

/** Streams an --input-list into the .npy file: one batch in memory at a time. */
async function encodeList(
  model: EmbeddingModel, kind: 'image' | 'text', list: string, count: number, outFile: string, batchSize: number | undefined, progress: PhasedProgress,
): Promise<{ rows: number; dim: number }> {
  let truncated = 0;
  const result = await model.encodeStream(listEntries(kind, list), {
    out: outFile,
    signal: interruptSignal(),
    batchSize,
    kind,
    onProgress: (p) => {
      truncated = p.truncated ?? 0;
      progress.update('encode', 'encode', p.done, count, kind === 'image' ? 'img' : 'text', truncated > 0 ? { truncated } : undefined);
    },
  });
  progress.finish();
  if (truncated > 0) note(`${truncated} of ${result.rows} text(s) were truncated to ${model.tokenizer.maxLength} tokens`);
  return result;
}

/** CLIP without --input-type: images when every input names an existing file, else texts. */
async function guessClipInputs(list: string | undefined, positionals: string[]): Promise<'image' | 'text'> {
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
async function checkInputs(modality: 'image' | 'text', list: string | undefined, positionals: string[]): Promise<string[] | { count: number }> {
  if (list === undefined) return modality === 'text' ? checkTextArgs(positionals) : checkImageArgs(positionals);
  let count = 0;
  for await (const _ of listEntries(modality, list)) count++;
  if (count === 0) throw new UsageError(`--input-list ${list} lists no ${modality === 'text' ? 'texts' : 'images'}`);
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

/**
 * The entries of an --input-list, checked as they are read. Images: one path per line; blank lines and
 * lines starting with # are skipped; relative paths are relative to the list. Texts: one text per line,
 * taken as written (a line starting with # is a text too); an empty line is an error.
 */
async function* listEntries(modality: 'image' | 'text', file: string): AsyncGenerator<string> {
  const base = dirname(resolve(file));
  for await (const { line: raw, number } of listLines(file)) {
    if (modality === 'text') {
      if (raw.trim() === '') {
        throw new Error(`${file} line ${number}: empty line; a text model's --input-list has one non-empty text per line`);
      }
      yield raw;
      continue;
    }
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const path = isAbsolute(line) ? line : resolve(base, line);
    if (!existsSync(path)) throw new Error(`${file} line ${number}: image not found: ${line}`);
    yield path;
  }
}
