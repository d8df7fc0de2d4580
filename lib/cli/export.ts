// finetuner export: a registry backbone to TorchScript (exportModel), the exporter's progress on stderr.
import { exportModel } from '../export.js';
import { requireAvailable } from '../registry.js';
import { UsageError, choiceOption, existingFile, flag, integerOption, note, out, requiredString, type Command } from './command.js';

export const exportCommand: Command = {
  name: 'export',
  summary: 'Export a backbone (e.g. resnet50) to TorchScript: DIR/model.pt and DIR/finetuner.json.',
  usage: ['export NAME --out DIR [--weights FILE | --random-init] [--size full|tiny] [--seed N]'],
  details:
    'Runs Python (/usr/bin/python3 with torch and torchvision, or $FINETUNER_PYTHON) once; everything\n' +
    "after the export runs in the native addon. Without --weights or --random-init, torchvision's\n" +
    'checkpoint is taken from the torch hub cache. `finetuner describe` lists the names.',
  positionals: { min: 1, max: 1, name: 'NAME (a backbone; `finetuner describe` lists them)' },
  options: {
    out: { type: 'string', value: 'DIR', description: 'directory to write model.pt and finetuner.json to', required: true },
    weights: { type: 'string', value: 'FILE', description: 'a torchvision checkpoint (state_dict .pth)' },
    'random-init': { type: 'boolean', description: 'seeded random initialisation instead of a checkpoint' },
    size: { type: 'string', value: 'S', description: "full, or tiny (a small model of the same family, for tests)", default: 'full' },
    seed: { type: 'string', value: 'N', description: 'seed of --random-init', default: '0' },
  },
  async run(args) {
    const name = args.positionals[0]!;
    const outDir = requiredString(args, 'out');
    const weights = existingFile(args, 'weights');
    const randomInit = flag(args, 'random-init');
    if (weights !== undefined && randomInit) throw new UsageError('options --weights and --random-init exclude each other: pass one');
    const size = choiceOption(args, 'size', ['full', 'tiny'] as const);
    const seed = integerOption(args, 'seed', 0);
    // Checked here rather than by the exporter: no Python start-up, and close names are suggested.
    requireAvailable(name);
    const metadata = await exportModel(name, { outDir, weights, randomInit, size, seed, onProgress: (line) => note(line) });
    out(`exported ${metadata.name} (${metadata.size}, ${metadata.weights}, embedding dim ${metadata.embeddingDim}) to ${outDir}`);
  },
};
