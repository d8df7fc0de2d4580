// finetuner encode: images to a float32 .npy matrix, one row per image in input order.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { writeNpy } from '../npy.js';
import { DEVICE_OPTION, DEVICES, UsageError, choiceOption, integerOption, out, requiredString, stringOption, type Command } from './command.js';
import { PhasedProgress } from './progressBars.js';

export const encodeCommand: Command = {
  name: 'encode',
  summary: 'Encode images into embeddings and write them as a float32 .npy matrix (rows in input order).',
  usage: ['encode --model DIR [--out FILE.npy] [options] IMAGE...', 'encode --model DIR --input-list FILE [--out FILE.npy] [options]'],
  details: 'Read the result in Python with numpy.load(FILE); it has shape (images, output dim).',
  positionals: { min: 0, max: Number.POSITIVE_INFINITY },
  options: {
    model: { type: 'string', value: 'DIR', description: 'saved model or exported backbone directory', required: true },
    'input-list': { type: 'string', value: 'FILE', description: 'text file with one image path per line (relative to the file)' },
    out: { type: 'string', value: 'FILE', description: 'the .npy file to write', default: 'embeddings.npy' },
    'batch-size': { type: 'string', value: 'N', description: 'images per native call', default: '32' },
    'image-size': { type: 'string', value: 'N', description: 'input side in pixels', default: "the model's" },
    device: DEVICE_OPTION,
  },
  async run(args) {
    const modelDir = requiredString(args, 'model');
    const outFile = stringOption(args, 'out') ?? 'embeddings.npy';
    const batchSize = integerOption(args, 'batch-size', 1);
    const imageSize = integerOption(args, 'image-size', 1);
    const device = choiceOption(args, 'device', DEVICES);
    const list = stringOption(args, 'input-list');
    if (list !== undefined && args.positionals.length > 0) {
      throw new UsageError('pass images either as arguments or with --input-list, not both');
    }
    const images = list !== undefined ? await readInputList(list) : checkImageArgs(args.positionals);
    if (images.length === 0) throw new UsageError(list !== undefined ? `--input-list ${list} lists no images` : 'no images to encode: pass IMAGE... or --input-list FILE');
    if (!existsSync(dirname(resolve(outFile)))) throw new Error(`--out ${outFile}: directory ${dirname(resolve(outFile))} does not exist`);

    const { loadModel } = await import('../loadModel.js'); // sharp and the addon load only for verbs that need them
    const model = await loadModel(modelDir, { device, imageSize });
    const progress = new PhasedProgress();
    try {
      const embeddings = await model.encode(images, {
        batchSize,
        onProgress: (done, total) => progress.update('encode', 'encode', done, total, 'img'),
      });
      progress.finish();
      await writeNpy(outFile, embeddings.data, [embeddings.rows, embeddings.dim]);
      out(`wrote ${outFile}: ${embeddings.rows} x ${embeddings.dim} float32 (${model.name}, ${model.device})`);
    } finally {
      progress.finish();
      model.dispose();
    }
  },
};

function checkImageArgs(paths: string[]): string[] {
  for (const path of paths) {
    if (!existsSync(path)) throw new Error(`image not found: ${path}`);
    if (!statSync(path).isFile()) throw new Error(`not a file: ${path}`);
  }
  return paths;
}

/** One path per line; blank lines and lines starting with # are skipped; relative paths are relative to the list. */
async function readInputList(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`cannot read --input-list ${file}: ${code === 'ENOENT' ? 'file not found' : (error as Error).message}`);
  }
  const base = dirname(resolve(file));
  const images: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const path = isAbsolute(line) ? line : resolve(base, line);
    if (!existsSync(path)) throw new Error(`${file} line ${i + 1}: image not found: ${line}`);
    images.push(path);
  });
  return images;
}
