// `npm run demo` (image-to-image): the main job end to end on real data that installs from Debian (Fashion-MNIST).
// Exports a CNN backbone from the registry, measures image-to-image retrieval on held-out test images,
// fine-tunes on training images with the mined triplet loss, and measures again.

import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readFashionMnist, type FashionMnist } from './data/fashionMnist.js';
import { evaluate } from '../lib/evaluate.js';
import { exportModel } from '../lib/export.js';
import { fit } from '../lib/fit.js';
import { loadModel } from '../lib/loadModel.js';
import { Progress } from '../lib/progress.js';
import type { Precision } from '../lib/precision.js';
import { getModel, requireAvailable, type Task } from '../lib/registry.js';
import { BestModelCheckpoint } from '../lib/callbacks/index.js';
import { comparisonTable, keptAndReport, positive, PRECISION_HELP, precisionOption } from './report.js';

const DEMO_HELP = `npm run demo -- [--task image-to-image]: fine-tune a backbone on Fashion-MNIST and compare retrieval before and after

Options (defaults in brackets):
  --model NAME        registry backbone to export [resnet50]
  --train N           training images, balanced over the 10 classes [4000]
  --validation N      training-split images that choose the epoch kept (BestModelCheckpoint) [500]
  --eval N            held-out test images used as queries and index [1000]
  --epochs N          [3]
  --batch-size N      [32]
  --image-size N      input side in pixels (Fashion-MNIST is 28x28) [32]
  --output-dim N      projection head width [128]
  --learning-rate X   [0.001]
  --miner M           batch-hard | semi-hard | all [semi-hard]
  --device D          cpu | cuda | auto [auto]
${PRECISION_HELP}  --work-dir DIR      where the backbone and fine-tuned model go [$TMPDIR/finetuner-demo]
`;

interface DemoOptions {
  task: Task;
  model: string;
  train: number;
  validation: number;
  eval: number;
  epochs: number;
  batchSize: number;
  imageSize: number;
  outputDim: number;
  learningRate: number;
  miner: 'batch-hard' | 'semi-hard' | 'all';
  device: 'cpu' | 'cuda' | 'auto';
  precision: Precision;
  workDir: string;
}

function parseDemoArgs(argv: string[]): DemoOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      train: { type: 'string' },
      validation: { type: 'string' },
      eval: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      'image-size': { type: 'string' },
      'output-dim': { type: 'string' },
      'learning-rate': { type: 'string' },
      miner: { type: 'string' },
      device: { type: 'string' },
      precision: { type: 'string' },
      'work-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(DEMO_HELP);
    return undefined;
  }
  const task: Task = 'image-to-image';
  const model = values.model ?? 'resnet50';
  const info = requireAvailable(model);
  if (info.task !== task) throw new Error(`--model ${model} is a ${info.task} backbone, not ${task}`);
  const miner = (values.miner ?? 'semi-hard') as DemoOptions['miner'];
  if (!['batch-hard', 'semi-hard', 'all'].includes(miner)) throw new Error(`--miner must be batch-hard, semi-hard or all, got ${miner}`);
  const device = (values.device ?? 'auto') as DemoOptions['device'];
  if (!['cpu', 'cuda', 'auto'].includes(device)) throw new Error(`--device must be cpu, cuda or auto, got ${device}`);
  return {
    task,
    model,
    train: positive(values.train, 'train', 4000),
    validation: positive(values.validation, 'validation', 500),
    eval: positive(values.eval, 'eval', 1000),
    epochs: positive(values.epochs, 'epochs', 3),
    batchSize: positive(values['batch-size'], 'batch-size', 32),
    imageSize: positive(values['image-size'], 'image-size', 32),
    outputDim: positive(values['output-dim'], 'output-dim', 128),
    learningRate: positive(values['learning-rate'], 'learning-rate', 1e-3, false),
    miner,
    device,
    precision: precisionOption(values.precision),
    workDir: values['work-dir'] ?? join(tmpdir(), 'finetuner-demo'),
  };
}

type LabelledImage = { image: FashionMnist['images'][number]; label: string };

/**
 * Disjoint sets of `counts[j]` items each from a split, each balanced over the classes (Fashion-MNIST is
 * shuffled already): an item goes to the first set whose quota for its class is not full.
 */
function balanced(data: FashionMnist, ...counts: number[]): LabelledImage[][] {
  const sets = counts.map(() => [] as LabelledImage[]);
  const taken = counts.map(() => new Map<number, number>());
  const perClass = counts.map((count) => Math.ceil(count / data.classNames.length));
  for (let i = 0; i < data.labels.length && sets.some((set, j) => set.length < counts[j]!); i++) {
    const label = data.labels[i]!;
    const j = sets.findIndex((set, j) => set.length < counts[j]! && (taken[j]!.get(label) ?? 0) < perClass[j]!);
    if (j < 0) continue;
    taken[j]!.set(label, (taken[j]!.get(label) ?? 0) + 1);
    sets[j]!.push({ image: data.images[i]!, label: data.classNames[label]! });
  }
  return sets;
}

export async function runImageDemo(argv: string[]): Promise<void> {
  const options = parseDemoArgs(argv);
  if (!options) return;
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const started = performance.now();
  const info = getModel(options.model);
  log(`demo: ${info.name} (${info.description}), ${options.task} on Fashion-MNIST`);

  // No pretrained weights can be downloaded here: the backbone starts from random initialisation, so
  // "before" is what an untrained network retrieves and the gain is all from fine-tuning.
  const backboneDir = join(options.workDir, `${options.model}-backbone`);
  if (!existsSync(join(backboneDir, 'finetuner.json'))) {
    log(`demo: exporting ${options.model} (random initialisation) to ${backboneDir}`);
    await exportModel(options.model, { outDir: backboneDir, randomInit: true, onProgress: (line) => log(`  ${line}`) });
  }

  const [trainSplit, testSplit] = await Promise.all([readFashionMnist({ split: 'train' }), readFashionMnist({ split: 'test' })]);
  // The validation images (from the training split) choose the epoch to keep; the test images only score.
  const [trainData, validation] = balanced(trainSplit, options.train, options.validation) as [LabelledImage[], LabelledImage[]];
  const [heldOut] = balanced(testSplit, options.eval) as [LabelledImage[]];
  log(
    `demo: ${trainData.length} training images, ${validation.length} validation images, ${heldOut.length} held-out test images, ` +
      `${options.imageSize}x${options.imageSize} px`,
  );

  const model = await loadModel(backboneDir, {
    device: options.device,
    outputDim: options.outputDim,
    imageSize: options.imageSize,
    precision: options.precision,
  });
  try {
    log(`demo: model on ${model.device} (${model.precision}), ${model.parameterCount().total.toLocaleString('en-US')} parameters, ${model.outputDim}-d embeddings`);
    const measure = async (label: string, scored = model) => {
      const bar = new Progress({ label: `encode (${label})`, total: heldOut.length, unit: 'img' });
      const metrics = await evaluate(scored, { queries: heldOut, k: 10, onProgress: (done) => bar.update(done) });
      bar.finish();
      return metrics;
    };
    const before = await measure('before');

    let bar: Progress | undefined;
    const outputDir = join(options.workDir, `${options.model}-fine-tuned`);
    const result = await fit({
      model,
      trainData,
      evalData: validation,
      callbacks: [new BestModelCheckpoint({ monitor: 'eval.map' })],
      epochs: options.epochs,
      batchSize: options.batchSize,
      numItemsPerClass: 4,
      learningRate: options.learningRate,
      miner: options.miner,
      // The original finetuner's margin with its miners (pytorch-metric-learning's default is 0.05).
      margin: 0.2,
      // Cosine decay: the high early rate moves the random weights, the low late rate settles them.
      scheduler: 'cosine',
      outputDir,
      onProgress: (event) => {
        if (event.phase !== 'train') return;
        if (event.step === 1) bar = new Progress({ label: `fit epoch ${event.epoch + 1}/${event.epochs}`, total: event.steps, unit: 'step' });
        bar!.update(event.step, { loss: event.loss.toFixed(4) });
        if (event.step === event.steps) bar!.finish();
      },
    });
    // The kept epoch's model (a new one when an earlier epoch was best).
    const after = await measure('after', result.model);
    if (result.model !== model) result.model.dispose();

    process.stdout.write(`\n${comparisonTable(before, after)}\n`);
    const losses = result.history.map((epoch) => epoch.loss.toFixed(4)).join(' -> ');
    process.stdout.write(
      `\nTraining loss by epoch: ${losses}\n` +
        keptAndReport(result, outputDir) +
        `Fine-tuned model: ${outputDir} (torch.jit.load in Python, or loadModel in Node)\n` +
        `Total time: ${((performance.now() - started) / 1000).toFixed(0)} s\n`,
    );
    if (!(after.map > before.map)) {
      throw new Error(`fine-tuning did not improve mAP (${before.map.toFixed(4)} -> ${after.map.toFixed(4)})`);
    }
  } finally {
    model.dispose();
  }
}
