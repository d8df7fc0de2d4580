// finetuner fit: fine-tunes a backbone or saved model on a labelled CSV and saves it to --output-dir.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { EpochRecord, FitProgress } from '../fit.js';
import { METADATA_FILE } from '../metadata.js';
import { formatTable, type TableCell } from '../table.js';
import {
  DEVICE_OPTION, DEVICES, UsageError, choiceOption, existingFile, flag, integerOption, note, numberOption, out, requiredString,
  type Command,
} from './command.js';
import { PhasedProgress, round4 } from './progressBars.js';

export const fitCommand: Command = {
  name: 'fit',
  summary: 'Fine-tune an embedding model on labelled images with a mined triplet loss.',
  usage: ['fit --model DIR --train-data CSV --output-dir DIR [options]'],
  details:
    'CSV files have a header row, then one image path (relative to the CSV) and its label per row.\n' +
    '--model is a backbone from `finetuner export` or a model saved by an earlier fit. The fine-tuned model\n' +
    'is written to --output-dir (replacing a model directory there) and loads with `--model DIR` in\n' +
    'encode and eval, or torch.jit.load(DIR/model.pt) in Python.',
  options: {
    model: { type: 'string', value: 'DIR', description: 'exported backbone or saved model directory', required: true },
    'train-data': { type: 'string', value: 'CSV', description: 'labelled training images', required: true },
    'eval-data': { type: 'string', value: 'CSV', description: 'labelled images scored (retrieval among themselves) after each epoch' },
    'output-dir': {
      type: 'string', value: 'DIR', description: 'where the fine-tuned model is saved', required: true,
      requiredWhy: 'without it the trained model would be lost',
    },
    epochs: { type: 'string', value: 'N', description: 'passes over the training data', default: '5' },
    'batch-size': { type: 'string', value: 'N', description: 'images per step, a multiple of --num-items-per-class', default: '32' },
    'num-items-per-class': { type: 'string', value: 'N', description: 'images of each class in a batch', default: '4' },
    'learning-rate': { type: 'string', value: 'X', description: 'optimizer learning rate', default: '1e-4' },
    scheduler: { type: 'string', value: 'S', description: 'learning-rate schedule: constant, linear or cosine (decay to 0)', default: 'constant' },
    'warmup-steps': { type: 'string', value: 'N', description: 'steps of linear learning-rate warm-up', default: '0' },
    optimizer: { type: 'string', value: 'O', description: 'adam, adamw or sgd', default: 'adam' },
    miner: { type: 'string', value: 'M', description: 'triplet mining in a batch: batch-hard, semi-hard or all', default: 'batch-hard' },
    margin: { type: 'string', value: 'X', description: 'triplet margin on L2 distances', default: '0.2' },
    'weight-decay': { type: 'string', value: 'X', description: 'optimizer weight decay', default: '0' },
    freeze: { type: 'boolean', description: 'freeze the backbone; train only the projection head (use with --output-dim)' },
    'output-dim': { type: 'string', value: 'N', description: 'add a projection head of this width, for backbones', default: 'none' },
    pooling: { type: 'string', value: 'P', description: 'pooling of the feature map, for backbones: avg, max or gem', default: "the backbone's" },
    'image-size': { type: 'string', value: 'N', description: 'input side in pixels; smaller trains faster', default: "the backbone's crop" },
    device: DEVICE_OPTION,
    seed: { type: 'string', value: 'N', description: 'seed of the batch sampler and projection head', default: '0' },
  },
  async run(args) {
    const outputDir = requiredString(args, 'output-dir', 'without it the trained model would be lost');
    const epochs = integerOption(args, 'epochs', 1);
    const batchSize = integerOption(args, 'batch-size', 1);
    const numItemsPerClass = integerOption(args, 'num-items-per-class', 1);
    // Checked here too so the message names the CLI's options rather than the library's.
    const effectiveBatch = batchSize ?? 32;
    const effectiveItems = numItemsPerClass ?? 4;
    if (effectiveBatch % effectiveItems !== 0) {
      throw new UsageError(`--batch-size (${effectiveBatch}) must be a multiple of --num-items-per-class (${effectiveItems})`);
    }
    const options = {
      model: requiredString(args, 'model'),
      trainData: existingFile(args, 'train-data')!,
      evalData: existingFile(args, 'eval-data'),
      outputDir,
      epochs,
      batchSize,
      numItemsPerClass,
      learningRate: numberOption(args, 'learning-rate', { min: 0, minExclusive: true }),
      scheduler: choiceOption(args, 'scheduler', ['constant', 'linear', 'cosine'] as const),
      warmupSteps: integerOption(args, 'warmup-steps', 0),
      optimizer: choiceOption(args, 'optimizer', ['adam', 'adamw', 'sgd'] as const),
      miner: choiceOption(args, 'miner', ['batch-hard', 'semi-hard', 'all'] as const),
      margin: numberOption(args, 'margin', { min: 0, minExclusive: true }),
      weightDecay: numberOption(args, 'weight-decay', { min: 0 }),
      freeze: flag(args, 'freeze'),
      outputDim: integerOption(args, 'output-dim', 1),
      pooling: choiceOption(args, 'pooling', ['avg', 'max', 'gem'] as const),
      imageSize: integerOption(args, 'image-size', 1),
      device: choiceOption(args, 'device', DEVICES),
      seed: integerOption(args, 'seed', 0),
    };
    checkOutputDir(outputDir);

    const { fit } = await import('../fit.js'); // loads sharp and the addon only for the verbs that need them
    const progress = new PhasedProgress();
    const onProgress = (event: FitProgress): void => {
      const epoch = `${event.epoch + 1}/${event.epochs}`;
      if (event.phase === 'train') {
        const fields: Record<string, number> = { loss: event.loss };
        if (event.truncated > 0) fields.truncated = event.truncated;
        progress.update(`train ${event.epoch}`, `epoch ${epoch}`, event.step, event.steps, 'step', fields);
      } else if (event.phase === 'eval') {
        progress.update(`eval ${event.epoch}`, `eval ${epoch}`, event.done, event.total, 'img');
      } else {
        progress.finish();
        note(`epoch ${epoch}: ${epochSummary(event.record)}`);
      }
    };
    let result;
    try {
      result = await fit({ ...options, onProgress });
    } catch (error) {
      throw withCliNames(error);
    } finally {
      progress.finish();
    }
    result.model.dispose();
    out(historyTable(result.history));
    out(`saved the fine-tuned model to ${outputDir}`);
  },
};

// The library's messages name its options (`batchSize`); a CLI user knows them as flags.
const CLI_NAMES: Record<string, string> = {
  batchSize: '--batch-size',
  numItemsPerClass: '--num-items-per-class',
  learningRate: '--learning-rate',
  warmupSteps: '--warmup-steps',
  weightDecay: '--weight-decay',
  outputDim: '--output-dim',
  imageSize: '--image-size',
  trainData: '--train-data',
  evalData: '--eval-data',
};

function withCliNames(error: unknown): unknown {
  if (error instanceof Error) {
    error.message = error.message.replace(/`(\w+)`|'(\w+)'/g, (match, a?: string, b?: string) => CLI_NAMES[(a ?? b)!] ?? match);
  }
  return error;
}

/**
 * model.save replaces --output-dir as a whole; refuse a directory that holds something other than a
 * finetuner model (a typo such as `--output-dir .` must not delete the user's files after training).
 */
function checkOutputDir(dir: string): void {
  const path = resolve(dir);
  if (!existsSync(path)) return;
  if (!statSync(path).isDirectory()) throw new Error(`--output-dir ${dir} exists and is not a directory`);
  if (readdirSync(path).length > 0 && !existsSync(join(path, METADATA_FILE))) {
    throw new Error(
      `--output-dir ${dir} is a non-empty directory that is not a finetuner model; it would be replaced, ` +
        'so choose a new or empty directory',
    );
  }
}

function epochSummary(record: EpochRecord): string {
  const parts = [`mean loss ${round4(record.loss)}`, `${round4(record.examples)} examples/step`, `${record.seconds.toFixed(1)} s`];
  if (record.eval) parts.push(`eval mAP ${round4(record.eval.map)}, precision@${record.eval.k} ${round4(record.eval.precisionAtK)}`);
  return parts.join(', ');
}

function historyTable(history: EpochRecord[]): string {
  const withEval = history.some((r) => r.eval);
  const k = history.find((r) => r.eval)?.eval?.k;
  const columns = ['epoch', 'loss', 'examples', 'steps', 'seconds'];
  if (withEval) columns.push(`precision@${k}`, `recall@${k}`, 'mrr', `ndcg@${k}`, 'map');
  const rows = history.map((r) => {
    const row: Record<string, TableCell> = {
      epoch: r.epoch + 1,
      loss: round4(r.loss),
      examples: round4(r.examples),
      steps: r.steps,
      seconds: Number(r.seconds.toFixed(1)),
    };
    if (r.eval) {
      Object.assign(row, {
        [`precision@${k}`]: round4(r.eval.precisionAtK),
        [`recall@${k}`]: round4(r.eval.recallAtK),
        mrr: round4(r.eval.mrr),
        [`ndcg@${k}`]: round4(r.eval.ndcgAtK),
        map: round4(r.eval.map),
      });
    }
    return row;
  });
  return formatTable('Training history', columns, rows);
}
