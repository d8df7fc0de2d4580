// finetuner fit: fine-tunes a backbone or saved model on a CSV (labelled images, or labelled texts, text
// pairs or scored text pairs) and saves it to --output-dir.
import { BUILT_IN_CALLBACKS, EvaluationCallback, type FlagReader, type TrainingCallback } from '../callbacks/index.js';
import { SAMPLERS, SAMPLER_NAMES } from '../data/batchSamplers.js';
import { readDistributedEnvironment } from '../distributed/environment.js';
import { isSimilarityMetrics, metricsByName, type EvaluationResult } from '../evaluate.js';
import type { EpochRecord, FitOptions, FitProgress } from '../fit.js';
import { OPTION_RANGES } from '../optionRanges.js';
import { checkOutputDir } from '../outputDir.js';
import { optimizerDefaults, OPTIMIZER_NAMES, OPTIMIZERS } from '../optimizers.js';
import { SCHEDULER_NAMES } from '../schedule.js';
import { formatTable } from '../table.js';
import {
  DEVICE_OPTION, DEVICES, TRAINING_PRECISIONS, TRAINING_PRECISION_OPTION, UsageError, choiceOption, existingFile, flag, note, numberOption, out, requiredString,
  stringOption, type Command, type ParsedArgs,
} from './command.js';
import { LOSS_NAMES } from '../losses/index.js';
import { LOSS_CLI_NAMES, LOSS_FLAGS, lossesHelp, readLossFlags } from './lossOptions.js';
import { InterruptedError, interruptSignal } from './interrupt.js';
import { checkModelFlags, peekModelDir } from './modelDir.js';
import { PhasedProgress, round4 } from './progressBars.js';

const POOLINGS = ['avg', 'max', 'gem', 'mean', 'cls'] as const;

export const fitCommand: Command = {
  name: 'fit',
  summary: 'Fine-tune an embedding model on labelled images, or on labelled texts, text pairs or scored text pairs.',
  usage: ['fit --model DIR --train-data CSV --output-dir DIR [options]'],
  details:
    'CSV files have a header row; the columns say what the data is:\n' +
    '  image models  image,label                 labelled images (image paths relative to the CSV)\n' +
    '  text models   text,label                  labelled texts\n' +
    '                query,document[,negative]   query-document pairs\n' +
    '                text1,text2,score           scored pairs, score in [0, 1]\n' +
    '  CLIP models   text,image                  text-image pairs, each row a matching pair (default\n' +
    '                                            learning rate 1e-5; --freeze-tower and --wise-ft apply)\n' +
    `${lossesHelp()}\n` +
    `${samplersHelp()}\n` +
    `${optimizersHelp()}\n` +
    '--model is a backbone from `finetuner export` or a model saved by an earlier fit. The fine-tuned model\n' +
    'is written to --output-dir (replacing a model directory there) and loads with `--model DIR` in encode\n' +
    'and eval, or torch.jit.load(DIR/model.pt) in Python. A training report (DIR/report.html: loss and\n' +
    'learning-rate curves, evaluation per epoch and before/after, configuration, timings) is written with it.\n' +
    'Ctrl-C finishes the current step, writes a checkpoint to --checkpoint-dir and exits (130); run the same\n' +
    'command with --resume DIR to continue. Callbacks: ' + BUILT_IN_CALLBACKS.map((c) => `${c.className} ${c.summary}`).join('; ') + '.',
  options: {
    model: { type: 'string', value: 'DIR', description: 'exported backbone or saved model directory', required: true },
    'train-data': { type: 'string', value: 'CSV', description: 'training data: labelled images, or texts as above', required: true },
    'eval-data': {
      type: 'string', value: 'CSV',
      description: 'scored before training and after each epoch: labelled items (retrieval among themselves), text pairs, or scored pairs (correlation)',
    },
    'output-dir': {
      type: 'string', value: 'DIR', description: 'where the fine-tuned model is saved', required: true,
      requiredWhy: 'without it the trained model would be lost',
    },
    epochs: { type: 'string', value: 'N', description: 'passes over the training data', default: '5' },
    'batch-size': {
      type: 'string', value: 'N', description: 'items (or pairs) per step; the class sampler rounds it down to a multiple of --num-items-per-class',
      default: '32',
    },
    'num-items-per-class': { type: 'string', value: 'N', description: 'labelled data: items of each class in a batch', default: '4' },
    sampler: { type: 'string', value: 'S', description: `how batches are drawn: ${SAMPLER_NAMES.join(', ')} (see above)`, default: 'auto' },
    loss: { type: 'string', value: 'L', description: `${LOSS_NAMES.join(', ')}; must take the data`, default: 'from the data' },
    ...LOSS_FLAGS,
    'learning-rate': { type: 'string', value: 'X', description: 'optimizer learning rate', default: '1e-4; CLIP 1e-5' },
    scheduler: { type: 'string', value: 'S', description: `learning-rate schedule: ${SCHEDULER_NAMES.join(', ')}`, default: 'constant' },
    'warmup-steps': { type: 'string', value: 'N', description: 'steps of linear learning-rate warm-up', default: '0' },
    'warmup-ratio': { type: 'string', value: 'R', description: 'warm-up as a fraction of all steps, in [0, 1) (instead of --warmup-steps)' },
    restarts: { type: 'string', value: 'N', description: 'cosine-with-restarts: cosine cycles', default: '1' },
    power: { type: 'string', value: 'P', description: 'polynomial: degree of the decay', default: '1' },
    'end-learning-rate': { type: 'string', value: 'LR', description: 'polynomial: the rate at the last step', default: '1e-7' },
    optimizer: { type: 'string', value: 'O', description: `${OPTIMIZER_NAMES.join(', ')} (listed above)`, default: OPTIMIZER_NAMES[0] },
    'weight-decay': { type: 'string', value: 'X', description: 'optimizer weight decay (not on biases and normalisation weights)', default: '0' },
    'decay-biases-and-norms': { type: 'boolean', description: 'apply --weight-decay to biases and normalisation weights too' },
    momentum: { type: 'string', value: 'M', description: 'momentum, in [0, 1)', default: optimizerDefaults('momentum') },
    epsilon: { type: 'string', value: 'E', description: 'term added to the denominator (> 0)', default: optimizerDefaults('epsilon') },
    'rmsprop-alpha': { type: 'string', value: 'A', description: 'rmsprop: smoothing constant of the squared-gradient average, in [0, 1)', default: '0.99' },
    'layer-decay': {
      type: 'string', value: 'D',
      description: 'text models: layer-wise learning-rate decay in (0, 1]; layer i of L trains at rate * D^(L - i), embeddings at rate * D^(L + 1)',
      default: '1 (off)',
    },
    'max-grad-norm': { type: 'string', value: 'X', description: 'clip the total gradient norm to X before each optimizer step', default: 'off' },
    'accumulate-steps': {
      type: 'string', value: 'N', description: 'sum the gradients of N batches before each optimizer step (effective batch N x --batch-size)', default: '1',
    },
    freeze: { type: 'boolean', description: 'freeze the backbone; train only the projection head (use with --output-dim)' },
    'freeze-tower': { type: 'string', value: 'T', description: 'CLIP models: freeze the image or the text tower' },
    'wise-ft': {
      type: 'string', value: 'ALPHA', description: 'WiSE-FT after training: (1 - ALPHA) * pretrained + ALPHA * fine-tuned weights', default: 'off',
    },
    'trainable-layers': {
      type: 'string', value: 'N', description: 'text models: freeze all but the top N transformer layers', default: 'all trainable',
    },
    'output-dim': { type: 'string', value: 'N', description: 'add a projection head of this width, for backbones', default: 'none' },
    pooling: {
      type: 'string', value: 'P', description: 'pooling, for backbones: avg, max or gem (images); mean, cls or max (text)',
      default: "the backbone's",
    },
    'image-size': { type: 'string', value: 'N', description: 'image models: input side in pixels; smaller trains faster', default: "the backbone's crop" },
    'max-length': {
      type: 'string', value: 'N', description: 'text models: tokens per text (longer texts are truncated)', default: "the model's",
    },
    device: DEVICE_OPTION,
    precision: TRAINING_PRECISION_OPTION,
    seed: { type: 'string', value: 'N', description: 'seed of the batch sampler, projection head and dropout (a CPU run repeats bit for bit)', default: '0' },
    distributed: {
      type: 'boolean',
      description: 'data-parallel training with the processes of a launch (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT); --batch-size is per process',
    },
    'distributed-timeout': {
      type: 'string', value: 'S', description: 'with --distributed: seconds a collective waits for the other processes', default: '1800',
    },
    'eval-every': { type: 'string', value: 'N', description: 'with --eval-data: evaluate every N steps too', default: 'after each epoch' },
    ...Object.assign({}, ...BUILT_IN_CALLBACKS.map((c) => c.flags)),
    'checkpoint-dir': { type: 'string', value: 'DIR', description: 'where checkpoints are written', default: '<output-dir>.checkpoints' },
    resume: { type: 'string', value: 'DIR', description: 'continue a stopped run from a checkpoint (or the newest in a checkpoint dir); give the same options' },
  },
  async run(args) {
    const outputDir = requiredString(args, 'output-dir', 'without it the trained model would be lost');
    const modelDir = requiredString(args, 'model');
    const epochs = numberOption(args, 'epochs', OPTION_RANGES.epochs);
    const batchSize = numberOption(args, 'batch-size', OPTION_RANGES.batchSize);
    const numItemsPerClass = numberOption(args, 'num-items-per-class', OPTION_RANGES.numItemsPerClass);
    const trainableLayers = numberOption(args, 'trainable-layers', OPTION_RANGES.trainableLayers);
    const imageSize = numberOption(args, 'image-size', OPTION_RANGES.imageSize);
    const maxLength = numberOption(args, 'max-length', OPTION_RANGES.maxLength);
    const pooling = choiceOption(args, 'pooling', POOLINGS);
    if (trainableLayers !== undefined && flag(args, 'freeze')) {
      throw new UsageError('options --freeze and --trainable-layers exclude each other: --freeze freezes the whole backbone');
    }
    const freezeTower = choiceOption(args, 'freeze-tower', ['image', 'text'] as const);
    const info = await peekModelDir(modelDir);
    checkModelFlags(info, modelDir, {
      'image-size': imageSize,
      'trainable-layers': trainableLayers,
      'max-length': maxLength,
      freeze: args.values.freeze,
      'output-dim': args.values['output-dim'],
      pooling,
      'freeze-tower': freezeTower,
    });
    const poolings: readonly string[] | undefined = info?.modality.poolings;
    if (info && pooling !== undefined && !poolings!.includes(pooling)) {
      throw new UsageError(`option --pooling must be one of ${poolings!.join(', ')} for ${info.modality.described} model, got '${pooling}'`);
    }
    const options = {
      model: modelDir,
      trainData: existingFile(args, 'train-data')!,
      evalData: existingFile(args, 'eval-data'),
      outputDir,
      epochs,
      batchSize,
      numItemsPerClass,
      sampler: choiceOption(args, 'sampler', SAMPLER_NAMES),
      learningRate: numberOption(args, 'learning-rate', OPTION_RANGES.learningRate),
      scheduler: choiceOption(args, 'scheduler', SCHEDULER_NAMES),
      warmupSteps: numberOption(args, 'warmup-steps', OPTION_RANGES.warmupSteps),
      warmupRatio: numberOption(args, 'warmup-ratio', OPTION_RANGES.warmupRatio),
      restarts: numberOption(args, 'restarts', OPTION_RANGES.restarts),
      power: numberOption(args, 'power', OPTION_RANGES.power),
      endLearningRate: numberOption(args, 'end-learning-rate', OPTION_RANGES.endLearningRate),
      optimizer: choiceOption(args, 'optimizer', OPTIMIZER_NAMES),
      ...readLossFlags(args),
      loss: choiceOption(args, 'loss', LOSS_NAMES),
      weightDecay: numberOption(args, 'weight-decay', OPTION_RANGES.weightDecay),
      decayBiasesAndNorms: flag(args, 'decay-biases-and-norms') || undefined,
      momentum: numberOption(args, 'momentum', OPTION_RANGES.momentum),
      epsilon: numberOption(args, 'epsilon', OPTION_RANGES.epsilon),
      rmspropAlpha: numberOption(args, 'rmsprop-alpha', OPTION_RANGES.rmspropAlpha),
      layerDecay: numberOption(args, 'layer-decay', OPTION_RANGES.layerDecay),
      maxGradNorm: numberOption(args, 'max-grad-norm', OPTION_RANGES.maxGradNorm),
      accumulateSteps: numberOption(args, 'accumulate-steps', OPTION_RANGES.accumulateSteps),
      freeze: freezeTower ?? (trainableLayers !== undefined ? { trainableLayers } : flag(args, 'freeze')),
      wiseFt: numberOption(args, 'wise-ft', OPTION_RANGES.wiseFt),
      outputDim: numberOption(args, 'output-dim', OPTION_RANGES.outputDim),
      pooling,
      imageSize,
      maxLength,
      device: choiceOption(args, 'device', DEVICES),
      precision: choiceOption(args, 'precision', TRAINING_PRECISIONS),
      seed: numberOption(args, 'seed', OPTION_RANGES.seed),
      distributed: distributedFlags(args),
    };
    const callbacks = callbacksFromFlags(args, options.evalData);
    await checkOutputDir(outputDir, { option: '--output-dir', inputDir: modelDir });

    const { fit } = await import('../fit.js'); // loads sharp and the addon only for the verbs that need them
    const progress = new PhasedProgress();
    const onProgress = (event: FitProgress): void => {
      if (event.phase === 'warning') {
        progress.finish();
        note(`warning: ${cliNames(event.message)}`);
        return;
      }
      const epoch = `${event.epoch + 1}/${event.epochs}`;
      if (event.phase === 'train') {
        const fields: Record<string, number> = { loss: event.loss };
        if (event.truncated > 0) fields.truncated = event.truncated;
        progress.update(`train ${event.epoch}`, `epoch ${epoch}`, event.step, event.steps, 'step', fields);
      } else if (event.phase === 'eval') {
        const label = event.epoch < 0 ? 'eval before training' : `eval ${epoch}`;
        progress.update(`eval ${event.epoch}`, label, event.done, event.total, info?.modality.progressUnit ?? 'img');
      } else {
        progress.finish();
        note(`epoch ${epoch}: ${epochSummary(event.record)}`);
      }
    };
    let result;
    const signal = interruptSignal('finishing the current step and writing a checkpoint');
    try {
      result = await fit({ ...options, callbacks, checkpointDir: stringOption(args, 'checkpoint-dir'), resumeFrom: stringOption(args, 'resume'), signal, onProgress });
    } catch (error) {
      const { TrainingInterruptedError } = await import('../trainingLoop.js');
      if (error instanceof TrainingInterruptedError && error.reason instanceof InterruptedError) {
        progress.finish();
        const how = error.checkpoint ? `checkpoint written to ${error.checkpoint}; resume with:\n  ${resumeCommand(error.checkpoint)}` : 'no checkpoint written';
        throw new InterruptedError(error.reason.signal, `interrupted by ${error.reason.signal}; ${how}`);
      }
      throw withCliNames(error);
    } finally {
      progress.finish();
    }
    result.model.dispose();
    // A distributed run's other ranks trained in step with rank 0, which wrote everything and reports it.
    const rank = options.distributed ? readDistributedEnvironment().rank : 0;
    if (rank > 0) {
      out(`rank ${rank}: done; rank 0 saved the fine-tuned model to ${outputDir}`);
      return;
    }
    if (result.evalBefore) out(`before training: eval ${evalSummary(result.evalBefore)}`);
    out(historyTable(result.history));
    if (result.wiseFt) {
      const m = result.wiseFt.eval;
      out(`WiSE-FT: weights interpolated with alpha ${result.wiseFt.alpha}` + (m ? `; eval ${evalSummary(m)}` : ''));
    }
    if (result.kept) out(`kept epoch ${result.kept.epoch + 1} (best ${result.kept.monitor} ${round4(result.kept.value)})`);
    out(`saved the fine-tuned model to ${outputDir}`);
    if (result.report !== undefined) out(`training report: ${result.report}`);
  },
};

/** The built-in callbacks the flags ask for (BUILT_IN_CALLBACKS), and --eval-every's evaluation. */
function callbacksFromFlags(args: ParsedArgs, evalData: string | undefined): TrainingCallback[] {
  const read: FlagReader = {
    number: (name, range) => numberOption(args, name, range),
    string: (name) => stringOption(args, name),
    choice: (name, choices) => choiceOption(args, name, choices),
  };
  const callbacks = BUILT_IN_CALLBACKS.map((c) => c.fromFlags(read)).filter((c): c is TrainingCallback => c !== undefined);
  const everySteps = numberOption(args, 'eval-every', OPTION_RANGES.everySteps);
  if (everySteps !== undefined) {
    if (evalData === undefined) throw new UsageError('option --eval-every needs --eval-data');
    callbacks.push(new EvaluationCallback({ queries: evalData, everySteps, everyEpoch: true }));
  }
  return callbacks;
}

/** This command line with --resume DIR (replacing any --resume), quoted for a POSIX shell. */
function resumeCommand(checkpoint: string): string {
  const argv = process.argv.slice(2);
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--resume') i++;
    else if (!argv[i]!.startsWith('--resume=')) kept.push(argv[i]!);
  }
  const quote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`);
  return ['finetuner', ...kept, '--resume', checkpoint].map(quote).join(' ');
}

// The library's messages name its options (`batchSize`); a CLI user knows them as flags.
const CLI_NAMES: Record<string, string> = {
  batchSize: '--batch-size',
  numItemsPerClass: '--num-items-per-class',
  learningRate: '--learning-rate',
  warmupSteps: '--warmup-steps',
  warmupRatio: '--warmup-ratio',
  endLearningRate: '--end-learning-rate',
  weightDecay: '--weight-decay',
  momentum: '--momentum',
  epsilon: '--epsilon',
  decayBiasesAndNorms: '--decay-biases-and-norms',
  rmspropAlpha: '--rmsprop-alpha',
  layerDecay: '--layer-decay',
  maxGradNorm: '--max-grad-norm',
  accumulateSteps: '--accumulate-steps',
  outputDim: '--output-dim',
  imageSize: '--image-size',
  maxLength: '--max-length',
  'freeze.trainableLayers': '--trainable-layers',
  trainableLayers: '--trainable-layers',
  wiseFt: '--wise-ft',
  loss: '--loss',
  ...LOSS_CLI_NAMES,
  pooling: '--pooling',
  trainData: '--train-data',
  evalData: '--eval-data',
  checkpointDir: '--checkpoint-dir',
  resumeFrom: '--resume',
  distributed: '--distributed',
  'distributed.timeout': '--distributed-timeout',
};

/** --distributed [--distributed-timeout S] as fit's `distributed` option. */
function distributedFlags(args: ParsedArgs): FitOptions['distributed'] {
  const timeout = args.values['distributed-timeout'];
  if (!flag(args, 'distributed')) {
    if (timeout !== undefined) throw new UsageError('option --distributed-timeout needs --distributed');
    return undefined;
  }
  if (timeout === undefined) return true;
  const seconds = Number(timeout);
  if (typeof timeout !== 'string' || !Number.isFinite(seconds) || seconds <= 0) {
    throw new UsageError(`option --distributed-timeout must be a positive number of seconds, got '${timeout}'`);
  }
  return { timeout: seconds };
}

function cliNames(message: string): string {
  return message.replace(/`([\w.]+)`|'([\w.]+)'/g, (match, a?: string, b?: string) => CLI_NAMES[(a ?? b)!] ?? match);
}

/** The --help paragraph listing every optimizer (lib/optimizers.ts). */
function optimizersHelp(): string {
  const lines = OPTIMIZER_NAMES.map((name) => `  ${name.padEnd(8)} ${OPTIMIZERS[name].summary}`);
  return `Optimizers (--optimizer; defaults as in PyTorch):\n${lines.join('\n')}`;
}

function withCliNames(error: unknown): unknown {
  if (error instanceof Error) error.message = cliNames(error.message);
  return error;
}

/** The samplers for --help, from the one list fit() reads. */
function samplersHelp(): string {
  const width = Math.max(...SAMPLER_NAMES.map((name) => name.length));
  return `Samplers (--sampler):\n${SAMPLER_NAMES.map((name) => `  ${name.padEnd(width)}  ${SAMPLERS[name]}`).join('\n')}`;
}

function evalSummary(m: EvaluationResult): string {
  if (isSimilarityMetrics(m)) return `spearman ${round4(m.spearman)}, pearson ${round4(m.pearson)}`;
  return `mAP ${round4(m.map)}, precision@${m.k} ${round4(m.precisionAtK)}`;
}

function epochSummary(record: EpochRecord): string {
  const parts = [`mean loss ${round4(record.loss)}`, `${round4(record.examples)} examples/step`, `${record.seconds.toFixed(1)} s`];
  if (record.truncated > 0) parts.push(`${record.truncated} text(s) truncated to the maximum length`);
  if (record.eval) parts.push(`eval ${evalSummary(record.eval)}`);
  if (record.eval && !isSimilarityMetrics(record.eval) && record.eval.imageToText) parts.push(`image-to-text hit@1 ${round4(record.eval.imageToText.hitAt1)}, MRR ${round4(record.eval.imageToText.mrr)}`);
  return parts.join(', ');
}

/** One row per epoch, with the evaluation's metrics (CLIP's image-to-text ones are in the epoch lines). */
function historyTable(history: EpochRecord[]): string {
  const shown = (m: EvaluationResult) => Object.entries(metricsByName(m)).filter(([name]) => !name.startsWith('image-to-text') && !name.startsWith('hit@'));
  const sample = history.find((r) => r.eval)?.eval;
  const columns = ['epoch', 'loss', 'examples', 'steps', 'seconds', ...(sample ? shown(sample).map(([name]) => name) : [])];
  const rows = history.map((r) => ({
    epoch: r.epoch + 1,
    loss: round4(r.loss),
    examples: round4(r.examples),
    steps: r.steps,
    seconds: Number(r.seconds.toFixed(1)),
    ...Object.fromEntries(r.eval ? shown(r.eval).map(([name, value]) => [name, round4(value)]) : []),
  }));
  return formatTable('Training history', columns, rows);
}
