// finetuner export: a registry backbone to TorchScript (exportModel), the exporter's progress on stderr.
import { exportModel } from '../export.js';
import { requireAvailable } from '../registry.js';
import {
  UsageError, choiceOption, existingFile, existingPath, flag, integerOption, note, out, requiredString, type Command,
} from './command.js';

// exportModel's messages name its options; a CLI user knows them as flags.
const CLI_NAMES: Record<string, string> = {
  weights: '--weights',
  randomInit: '--random-init',
  size: '--size',
  seed: '--seed',
  tokenizer: '--tokenizer',
  vocabSize: '--vocab-size',
  outDir: '--out',
};

function withCliNames(error: unknown): unknown {
  if (error instanceof Error && error.message.startsWith('exportModel: ')) {
    error.message = error.message
      .slice('exportModel: '.length)
      .replace(/options? ("\w+")(?: and ("\w+"))?/g, (_m, a: string, b?: string) =>
        [a, b].filter(Boolean).map((n) => CLI_NAMES[n!.slice(1, -1)] ?? n).join(' and '),
      )
      .replace(/"(\w+)"/g, (m, n: string) => CLI_NAMES[n] ?? m);
  }
  return error;
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'Export a backbone (e.g. resnet50, bert-base-cased) to TorchScript: DIR/model.pt and DIR/finetuner.json.',
  usage: [
    'export NAME --out DIR [--weights FILE|DIR | --random-init] [--size full|tiny] [--tokenizer FILE] [--vocab-size N] [--seed N]',
  ],
  details:
    'Runs Python (/usr/bin/python3 with torch and torchvision, or $FINETUNER_PYTHON) once; everything\n' +
    'after the export runs in the native addon. Image models (resnet50, efficientnet_b0, ...) take a\n' +
    'torchvision checkpoint file as --weights; text models (bert-base-cased,\n' +
    'sentence-transformers/msmarco-distilbert-base-v3) take a Hugging Face model folder (config.json,\n' +
    'model.safetensors or pytorch_model.bin, tokenizer.json), and their tokenizer.json is copied to DIR.\n' +
    'Without --weights or --random-init, the checkpoint is taken from the torch hub (images) or Hugging\n' +
    'Face hub (text) cache. A random-init text model needs --tokenizer FILE to encode strings.\n' +
    '`finetuner describe` lists the names.',
  positionals: { min: 1, max: 1, name: 'NAME (a backbone; `finetuner describe` lists them)' },
  options: {
    out: { type: 'string', value: 'DIR', description: 'directory to write model.pt and finetuner.json to', required: true },
    weights: {
      type: 'string', value: 'FILE|DIR',
      description: 'images: a torchvision checkpoint (state_dict .pth); text: a Hugging Face model folder',
    },
    'random-init': { type: 'boolean', description: 'seeded random initialisation instead of a checkpoint' },
    size: { type: 'string', value: 'S', description: 'full, or tiny (a small model of the same family, for tests)', default: 'full' },
    tokenizer: {
      type: 'string', value: 'FILE',
      description: "text models: a tokenizer.json to copy next to model.pt; with --size tiny it sets the vocabulary size",
      default: "the --weights folder's",
    },
    'vocab-size': {
      type: 'string', value: 'N', description: 'text models, --random-init --size tiny: vocabulary size',
      default: "the tokenizer's, else 1000",
    },
    seed: { type: 'string', value: 'N', description: 'seed of --random-init', default: '0' },
  },
  async run(args) {
    const name = args.positionals[0]!;
    const outDir = requiredString(args, 'out');
    const weights = existingPath(args, 'weights');
    const randomInit = flag(args, 'random-init');
    if (weights !== undefined && randomInit) throw new UsageError('options --weights and --random-init exclude each other: pass one');
    const size = choiceOption(args, 'size', ['full', 'tiny'] as const);
    const seed = integerOption(args, 'seed', 0);
    const tokenizer = existingFile(args, 'tokenizer');
    const vocabSize = integerOption(args, 'vocab-size', 1);
    // Checked here rather than by the exporter: no Python start-up, and close names are suggested.
    requireAvailable(name);
    let metadata;
    try {
      metadata = await exportModel(name, { outDir, weights, randomInit, size, seed, tokenizer, vocabSize, onProgress: (line) => note(line) });
    } catch (error) {
      throw withCliNames(error);
    }
    const tokenizerNote = metadata.task === 'text-to-text' ? `, ${metadata.text.tokenizer ? `tokenizer ${metadata.text.tokenizer}` : 'no tokenizer'}` : '';
    out(`exported ${metadata.name} (${metadata.size}, ${metadata.weights}, embedding dim ${metadata.embeddingDim}${tokenizerNote}) to ${outDir}`);
  },
};
