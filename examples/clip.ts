// `npm run demo -- --task text-to-image`: fine-tunes a tiny CLIP on real data that installs from Debian
// (Fashion-MNIST): each training image is paired with a caption built from its class (a random synonym in
// a random template, examples/data/fashionCaptions.ts), and held-out images are searched with one prompt per
// class ("a photo of a sneaker"). Text-to-image retrieval and image-to-text (zero-shot classification:
// each image ranks the ten prompts) are measured before and after fine-tuning with CLIP's contrastive loss.

import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { captionFor, classPrompt } from './data/fashionCaptions.js';
import { readFashionMnist } from './data/fashionMnist.js';
import { mulberry32 } from '../lib/data/sampler.js';
import { evaluate, type EvaluationResult } from '../lib/evaluate.js';
import { exportModel } from '../lib/export.js';
import { fit } from '../lib/fit.js';
import { loadModel } from '../lib/loadModel.js';
import { Progress } from '../lib/progress.js';
import { getModel } from '../lib/registry.js';
import { formatTable } from '../lib/table.js';
import { writeClipTokenizer } from './tokenizers/clipBpe.js';
import { BestModelCheckpoint } from '../lib/callbacks/index.js';
import { keptAndReport, positive, PRECISION_HELP, precisionOption } from './report.js';

const HELP = `npm run demo -- --task text-to-image: fine-tune a tiny CLIP to find Fashion-MNIST images from captions

Options (defaults in brackets):
  --model NAME        a CLIP row of the registry, exported at tiny size [ViT-B-16::openai]
  --train N           training (caption, image) pairs [6000]
  --validation N      training images with their class prompts that choose the epoch kept (BestModelCheckpoint) [500]
  --eval N            held-out images; the ten class prompts are the text queries [1000]
  --epochs N          [4]
  --batch-size N      pairs per step; the other pairs of a batch are the negatives [64]
  --learning-rate X   [0.001] (a random tiny CLIP; fine-tuning a pretrained CLIP wants ~1e-5)
  --wise-ft ALPHA     WiSE-FT interpolation after training, 0 to 1 [off]
  --device D          cpu | cuda | auto [auto]
${PRECISION_HELP}  --work-dir DIR      where the backbone and fine-tuned model go [$TMPDIR/finetuner-demo]
`;

export async function runClipDemo(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      train: { type: 'string' },
      validation: { type: 'string' },
      eval: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      'learning-rate': { type: 'string' },
      'wise-ft': { type: 'string' },
      device: { type: 'string' },
      precision: { type: 'string' },
      'work-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const name = values.model ?? 'ViT-B-16::openai';
  if (getModel(name).task !== 'text-to-image') throw new Error(`--model ${name} is not a CLIP (text-to-image) model`);
  const device = values.device ?? 'auto';
  if (!['cpu', 'cuda', 'auto'].includes(device)) throw new Error(`--device must be cpu, cuda or auto, got ${device}`);
  const precision = precisionOption(values.precision);
  const trainCount = positive(values.train, 'train', 6000);
  const validationCount = positive(values.validation, 'validation', 500);
  const evalCount = positive(values.eval, 'eval', 1000);
  const epochs = positive(values.epochs, 'epochs', 4);
  const batchSize = positive(values['batch-size'], 'batch-size', 64);
  const learningRate = positive(values['learning-rate'], 'learning-rate', 1e-3, false);
  const wiseFt = values['wise-ft'] === undefined ? undefined : Number(values['wise-ft']);
  if (wiseFt !== undefined && !(wiseFt >= 0 && wiseFt <= 1)) throw new Error(`--wise-ft must be a number from 0 to 1, got ${values['wise-ft']}`);
  const workDir = values['work-dir'] ?? join(tmpdir(), 'finetuner-demo');
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const started = performance.now();

  const trainSet = await readFashionMnist({ split: 'train', limit: trainCount + validationCount });
  const testSet = await readFashionMnist({ split: 'test', limit: evalCount });
  const rand = mulberry32(7);
  const captioned = trainSet.images.map((image, i) => ({ text: captionFor(trainSet.labels[i]!, rand), image }));
  const train = captioned.slice(0, trainCount);
  // Training-split images with their class prompts choose the epoch to keep; the test images only score.
  const validation = trainSet.images.slice(trainCount).map((image, i) => ({ text: classPrompt(trainSet.labels[trainCount + i]!), image }));
  // Held out: test images, each paired with its class prompt; the prompts never occur in training as such.
  const test = testSet.images.map((image, i) => ({ text: classPrompt(testSet.labels[i]!), image }));
  log(`demo: ${name} (tiny), text-to-image on Fashion-MNIST: ${train.length} captioned training images, ${test.length} held-out images, 10 class prompts`);

  // No CLIP tokenizer can be downloaded here: a byte-level BPE in CLIP's format is learned from the captions.
  const slug = name.replace(/[^A-Za-z0-9]+/g, '-');
  const backboneDir = join(workDir, `clip-${slug}-tiny-backbone`);
  if (!existsSync(join(backboneDir, 'finetuner.json'))) {
    await mkdir(workDir, { recursive: true });
    const tokenizer = join(workDir, 'fashion-clip-tokenizer.json');
    await writeClipTokenizer(tokenizer, [...train.map((p) => p.text), ...test.map((p) => p.text)], { vocabSize: 1000 });
    log(`demo: exporting ${name} (tiny, random initialisation) to ${backboneDir}`);
    await exportModel(name, { outDir: backboneDir, randomInit: true, size: 'tiny', tokenizer, onProgress: (line) => log(`  ${line}`) });
  }

  const model = await loadModel(backboneDir, { device: device as 'cpu' | 'cuda' | 'auto', precision });
  try {
    log(`demo: model on ${model.device} (${model.precision}), ${model.parameterCount().total.toLocaleString('en-US')} parameters, ${model.outputDim}-d shared space, ${model.preprocessing.crop} px images`);
    const before = await evaluate(model, { queries: test, k: 10 });
    let bar: Progress | undefined;
    const outputDir = join(workDir, `clip-${slug}-tiny-fine-tuned`);
    const result = await fit({
      model,
      trainData: train,
      evalData: validation,
      // WiSE-FT interpolates the last weights, so it and BestModelCheckpoint exclude each other.
      callbacks: wiseFt === undefined ? [new BestModelCheckpoint({ monitor: 'eval.map' })] : [],
      epochs,
      batchSize,
      learningRate,
      scheduler: 'cosine',
      wiseFt,
      outputDir,
      onProgress: (event) => {
        if (event.phase !== 'train') return;
        if (event.step === 1) bar = new Progress({ label: `fit epoch ${event.epoch + 1}/${event.epochs}`, total: event.steps, unit: 'step' });
        bar!.update(event.step, { loss: event.loss.toFixed(4) });
        if (event.step === event.steps) bar!.finish();
      },
    });
    // The kept epoch's model (a new one when an earlier epoch was best).
    const after = await evaluate(result.model, { queries: test, k: 10 });
    const temperature = result.model.temperature;
    if (result.model !== model) result.model.dispose();
    process.stdout.write(`\n${clipComparisonTable(before, after)}\n`);
    process.stdout.write(
      `\nTraining loss by epoch: ${result.history.map((e) => e.loss.toFixed(4)).join(' -> ')}\n` +
        `Learned temperature: ${temperature.toFixed(2)} (starts at 1/0.07 = 14.29)\n` +
        (result.wiseFt ? `WiSE-FT alpha ${result.wiseFt.alpha} applied before the "after" column\n` : '') +
        keptAndReport(result, outputDir) +
        `Fine-tuned model: ${outputDir}\n` +
        `Total time: ${((performance.now() - started) / 1000).toFixed(0)} s\n`,
    );
    if (!(after.map > before.map)) throw new Error(`fine-tuning did not improve text-to-image mAP (${before.map.toFixed(4)} -> ${after.map.toFixed(4)})`);
  } finally {
    model.dispose();
  }
}

/** Text-to-image ranking metrics and image-to-text accuracy, before and after. */
export function clipComparisonTable(before: EvaluationResult, after: EvaluationResult): string {
  const rows: Array<[string, number, number]> = [
    ['text-to-image mAP', before.map, after.map],
    [`text-to-image precision@${before.k}`, before.precisionAtK, after.precisionAtK],
    [`text-to-image nDCG@${before.k}`, before.ndcgAtK, after.ndcgAtK],
    ['image-to-text accuracy (top 1 of 10 prompts)', topOne(before), topOne(after)],
    ['image-to-text MRR', before.imageToText!.mrr, after.imageToText!.mrr],
  ];
  return formatTable(
    `Held-out Fashion-MNIST, ${before.queries} class prompts x ${before.imageToText!.queries} images`,
    ['metric', 'before', 'after', 'change'],
    rows.map(([metric, b, a]) => ({ metric, before: b.toFixed(4), after: a.toFixed(4), change: `${a >= b ? '+' : ''}${(a - b).toFixed(4)}` })),
  );
}

/** With one prompt per class, an image's best prompt being its class's is zero-shot accuracy. */
function topOne(result: EvaluationResult): number {
  return result.imageToText!.hitAt1;
}
