#!/usr/bin/env node
// `node dist-tools/bench/precision.js`: what bf16 autocast buys on the CPU and what it costs, for the three
// models of `npm run bench` at full size with random weights: resnet50 (batch 16, 224x224, batch-hard
// triplet), bert-base-cased (32 pairs of 128-token texts, MultipleNegativesRankingLoss) and CLIP ViT-B-32
// (32 text-image pairs, the contrastive loss). Per model, in one process:
//   - encode throughput in bf16 and fp32 of two instances of the same weights (a model rebuilds its
//     frozen inference module when its precision changes, so one instance switched back and forth would
//     time the rebuilds), and the mean cosine similarity between their embeddings of the same batch;
//   - training steps/s of one instance switched with setPrecision, the two precisions alternating round
//     by round (bf16 fp32, then fp32 bf16, ...); the figure is the median of the per-round ratios.
// Each model runs in a child process of its own, with the malloc settings `npm run bench` gives it.
// Prints a markdown table and writes bench-results/precision.md and precision.json. Not part of
// `npm run bench`: there is no Python side here.
// Over 400 lines because it measures three models in two precisions for encode, training and quality
// (cosine to fp32) in one process, and the per-model tables belong with their measurement.

import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, platform, release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { NativeBatch, NativeTrainOptions, NativeTrainStepResult } from '../lib/binding.js';
import type { ImageBatch } from '../lib/data/images.js';
import { loadBinding, packageRoot, runtimeInfo } from '../lib/addonLoader.js';
import { loadModel } from '../lib/loadModel.js';
import type { EmbeddingModel } from '../lib/model.js';
import { cpuHasBf16 } from '../lib/precision.js';
import type { EncodedBatch } from '../lib/text/tokenizer.js';
import {
  BERT_LENGTH,
  BERT_MODEL,
  BERT_ROWS,
  checkShape,
  exportedModel as exportBert,
  glosses as bertGlosses,
  longTexts as bertTexts,
  LOSS_OPTIONS as BERT_LOSS_OPTIONS,
  TRAINING as BERT_TRAINING,
} from './bert.js';
import {
  ADDON_TRAIN_WARM_UP as CLIP_TRAIN_WARM_UP,
  checkText,
  CLIP_LABEL,
  CLIP_LENGTH,
  CLIP_ROWS,
  exportedModel as exportClip,
  glosses as clipGlosses,
  IMAGE_SIZE as CLIP_IMAGE_SIZE,
  longTexts as clipTexts,
  syntheticImages,
  TRAINING as CLIP_TRAINING,
} from './clip.js';
import {
  exportedModel as exportResnet,
  IMAGE_SIZE as RESNET_IMAGE_SIZE,
  labels as resnetLabels,
  randomBatch,
  RESNET_BATCH,
  RESNET_MODEL,
  LOSS_OPTIONS as RESNET_LOSS_OPTIONS,
  TRAINING as RESNET_TRAINING,
} from './resnet.js';
import { positiveFlag, runBenchChild, UsageError } from './shared.js';
import { cpuNow, cpuSince, median, runSideBySide, type BenchSide, type Comparison, type ComparisonResult, type SideBySideEvent } from './sideBySide.js';

/** Issue 5: bf16 training at least 1.5 times fp32's steps/s, and bf16 embeddings within cosine 0.99 of fp32's. */
const TRAIN_GOAL = 1.5;
const COSINE_GOAL = 0.99;
/** As `npm run bench --malloc auto`: glibc mmaps (and unmaps) every allocation from this size up, for bert. */
const MMAP_THRESHOLD = 131072;
const CHILD_ENV = 'FINETUNER_PRECISION_CHILD';

type BenchModel = 'resnet' | 'bert' | 'clip';
const MODELS: readonly BenchModel[] = ['resnet', 'bert', 'clip'];
const MODEL_NAMES: Record<BenchModel, string> = { resnet: RESNET_MODEL, bert: BERT_MODEL, clip: CLIP_LABEL };

/** Rounds and repetitions per model: a training step takes ~3.5 s (resnet50), ~40 s (bert-base) and ~10 s (CLIP) in fp32 on 2 cores. */
const DEFAULTS: Record<BenchModel, { trainRounds: number; encodeRounds: number; trainSteps: number; encodeReps: number }> = {
  resnet: { trainRounds: 5, encodeRounds: 5, trainSteps: 2, encodeReps: 2 },
  bert: { trainRounds: 3, encodeRounds: 3, trainSteps: 1, encodeReps: 1 },
  clip: { trainRounds: 4, encodeRounds: 4, trainSteps: 1, encodeReps: 2 },
};
const QUICK: Record<BenchModel, { trainRounds: number; encodeRounds: number; trainSteps: number; encodeReps: number }> = {
  resnet: { trainRounds: 2, encodeRounds: 2, trainSteps: 1, encodeReps: 1 },
  bert: { trainRounds: 1, encodeRounds: 1, trainSteps: 1, encodeReps: 1 },
  clip: { trainRounds: 1, encodeRounds: 2, trainSteps: 1, encodeReps: 1 },
};

const USAGE = `usage: node dist-tools/bench/precision.js [options]

bf16 autocast against fp32 on the CPU, at full size with random weights:
  resnet  ${RESNET_MODEL}, batch ${RESNET_BATCH}, 224x224: training steps/s (batch-hard triplet, adam) and encode images/s
  bert    ${BERT_MODEL}, ${BERT_ROWS} texts x ${BERT_LENGTH} tokens: training steps/s (MultipleNegativesRankingLoss on
          ${BERT_ROWS} pairs, adam) and encode sentences/s
  clip    ${CLIP_LABEL}, batch ${CLIP_ROWS}: training steps/s (contrastive loss on ${CLIP_ROWS} text-image pairs, adam),
          image encode images/s and text encode texts/s (${CLIP_LENGTH} tokens)
Training: one model, switched with setPrecision, bf16 and fp32 alternating round by round; the figure is
the median of the per-round ratios bf16/fp32 (goal >= ${TRAIN_GOAL}). Encode: two instances of the same
weights, one in each precision, alternating the same way; and the mean cosine similarity between their
embeddings of the same batch (goal >= ${COSINE_GOAL}).

options:
  --models LIST    comma-separated: resnet, bert, clip (default: all three)
  --rounds N       training rounds (default: resnet 5, bert 3, clip 4; --quick 2/1/1)
  --encode-rounds N  encode rounds (default: resnet 5, bert 3, clip 4; --quick 2/1/2)
  --threads N      intra-op threads (default: os.availableParallelism() = ${availableParallelism()})
  --quick          smoke run: fewer rounds and warm-ups (figures are rough)
  --out DIR        where precision.md and precision.json go (default: bench-results/ in the package)
  --cache DIR      exported models, shared with npm run bench (default: $FINETUNER_BENCH_CACHE or
                   <tmpdir>/finetuner-bench)
  -h, --help       this text

Each model runs in a child process with OMP_WAIT_POLICY=PASSIVE and npm run bench's malloc settings
(bert: MALLOC_MMAP_THRESHOLD_=${MMAP_THRESHOLD}, clip: MALLOC_ARENA_MAX=1). On 2 idle cores: resnet ~3
minutes, bert ~6, clip ~4; --quick about half.`;


interface Settings {
  models: BenchModel[];
  rounds: number | undefined;
  encodeRounds: number | undefined;
  threads: number;
  quick: boolean;
  out: string;
  cache: string;
  /** Child only: where its JSON goes. */
  json: string | undefined;
}


function parseSettings(argv: string[]): Settings | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      models: { type: 'string' },
      rounds: { type: 'string' },
      'encode-rounds': { type: 'string' },
      threads: { type: 'string' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      cache: { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return undefined;
  const listed = (values.models ?? MODELS.join(',')).split(',').map((m) => m.trim().toLowerCase()).filter((m) => m !== '');
  if (listed.length === 0) throw new UsageError('--models needs at least one model');
  for (const m of listed) if (!(MODELS as readonly string[]).includes(m)) throw new UsageError(`--models: unknown model ${JSON.stringify(m)}; use ${MODELS.join(', ')}`);
  return {
    models: MODELS.filter((m) => listed.includes(m)),
    rounds: positiveFlag(values.rounds, '--rounds'),
    encodeRounds: positiveFlag(values['encode-rounds'], '--encode-rounds'),
    threads: positiveFlag(values.threads, '--threads') ?? availableParallelism(),
    quick: values.quick!,
    out: resolve(values.out ?? join(packageRoot(), 'bench-results')),
    cache: resolve(values.cache ?? process.env.FINETUNER_BENCH_CACHE ?? join(tmpdir(), 'finetuner-bench')),
    json: values.json,
  };
}

function log(message: string): void {
  process.stderr.write(`bench-precision: ${message}\n`);
}

/** One encode row: which batch, and how many rows it has. */
interface EncodeRow {
  id: string;
  title: string;
  unit: string;
  batch: NativeBatch;
  rows: number;
}

/** A model, ready to be loaded (as often as needed) and measured. */
interface Workload {
  load(): Promise<EmbeddingModel>;
  training: NativeTrainOptions;
  /** One training step of `model` at its current precision. */
  trainStep(model: EmbeddingModel): Promise<NativeTrainStepResult>;
  trainTitle: string;
  /** Untimed training steps of each precision before the first round. */
  trainWarmUp: number;
  encodes: EncodeRow[];
  settings: Record<string, unknown>;
}

async function resnetWorkload(cache: string): Promise<Workload> {
  const dir = await exportResnet(cache, log);
  const batch = randomBatch(1234);
  const labels = resnetLabels();
  return {
    load: () => loadModel(dir, { device: 'cpu', precision: 'fp32' }),
    training: RESNET_TRAINING,
    trainStep: (model) => model.nativeModel.trainStep([batch], labels, 'TripletMarginLoss', RESNET_LOSS_OPTIONS),
    trainTitle: `${RESNET_MODEL} train (batch ${RESNET_BATCH})`,
    // TorchScript's profiling executor profiles, then optimises: the first 2-3 runs are slow.
    trainWarmUp: 3,
    encodes: [{ id: 'resnet50-encode', title: `${RESNET_MODEL} encode (batch ${RESNET_BATCH})`, unit: 'images/s', batch, rows: RESNET_BATCH }],
    settings: {
      model: `${RESNET_MODEL} (random init)`,
      batch: `${RESNET_BATCH} random images of ${RESNET_IMAGE_SIZE}x${RESNET_IMAGE_SIZE}`,
      training: 'adam lr 1e-4, batch-hard triplet margin 0.2',
    },
  };
}

async function bertWorkload(cache: string): Promise<Workload> {
  const corpus = await bertGlosses();
  const dir = await exportBert(cache, log, corpus);
  const load = () => loadModel(dir, { device: 'cpu', maxLength: BERT_LENGTH, precision: 'fp32' });
  // The texts come from the tokenizer, which every instance shares.
  const probe = await load();
  let queries: EncodedBatch;
  let documents: EncodedBatch;
  try {
    const q = bertTexts(probe, corpus, 0, BERT_ROWS);
    queries = probe.tokenize(q.texts);
    documents = probe.tokenize(bertTexts(probe, corpus, q.next, BERT_ROWS).texts);
  } finally {
    probe.dispose();
  }
  checkShape(queries, 'query');
  checkShape(documents, 'document');
  const groups = Int32Array.from({ length: BERT_ROWS }, (_, i) => i);
  return {
    load,
    training: BERT_TRAINING,
    trainStep: (model) => model.nativeModel.trainStep([queries, documents], groups, 'MultipleNegativesRankingLoss', BERT_LOSS_OPTIONS),
    trainTitle: `bert-base train (batch ${BERT_ROWS} pairs x ${BERT_LENGTH})`,
    // Adam's state and TorchScript's profiling run.
    trainWarmUp: 1,
    encodes: [{ id: 'bert-base-encode', title: `bert-base encode (batch ${BERT_ROWS} x ${BERT_LENGTH})`, unit: 'sentences/s', batch: queries, rows: BERT_ROWS }],
    settings: {
      model: `${BERT_MODEL} (full size, random init)`,
      batch: `${BERT_ROWS} texts of ${BERT_LENGTH} tokens (WordNet glosses joined, truncated)`,
      training: `MultipleNegativesRankingLoss scale ${BERT_LOSS_OPTIONS.scale}, ${BERT_ROWS} pairs, adam lr ${BERT_TRAINING.learningRate.toExponential()}, dropout on`,
      encode: 'model.encodeBatch(token ids): tokenization is not timed',
    },
  };
}

async function clipWorkload(cache: string): Promise<Workload> {
  const corpus = await clipGlosses();
  const dir = await exportClip(cache, log, corpus);
  const load = () => loadModel(dir, { device: 'cpu', precision: 'fp32' });
  const probe = await load();
  let tokens: EncodedBatch;
  let images: ImageBatch;
  try {
    tokens = probe.tokenize(clipTexts(probe, corpus, CLIP_ROWS));
    images = await probe.loadImages(syntheticImages(CLIP_ROWS, 4321));
  } finally {
    probe.dispose();
  }
  checkText(tokens);
  const groups = Int32Array.from({ length: CLIP_ROWS }, (_, i) => i);
  return {
    load,
    training: CLIP_TRAINING,
    trainStep: (model) => model.nativeModel.trainStep([tokens, images], groups, 'CLIPLoss'),
    trainTitle: `${CLIP_LABEL} train (batch ${CLIP_ROWS} pairs, text ${CLIP_LENGTH} tokens)`,
    // Adam's state, TorchScript's profiling runs, and the malloc arena settling (see clip.ts).
    trainWarmUp: CLIP_TRAIN_WARM_UP,
    encodes: [
      { id: 'clip-image-encode', title: `${CLIP_LABEL} image encode (batch ${CLIP_ROWS}, ${CLIP_IMAGE_SIZE}x${CLIP_IMAGE_SIZE})`, unit: 'images/s', batch: images, rows: CLIP_ROWS },
      { id: 'clip-text-encode', title: `${CLIP_LABEL} text encode (batch ${CLIP_ROWS} x ${CLIP_LENGTH})`, unit: 'texts/s', batch: tokens, rows: CLIP_ROWS },
    ],
    settings: {
      model: `ViT-B-32::openai (full size, random init)`,
      batch: `${CLIP_ROWS} synthetic images of ${CLIP_IMAGE_SIZE}x${CLIP_IMAGE_SIZE} and ${CLIP_ROWS} texts of ${CLIP_LENGTH} tokens`,
      training: `CLIP contrastive loss on ${CLIP_ROWS} pairs, adam lr ${CLIP_TRAINING.learningRate.toExponential()}`,
      encode: 'model.encodeBatch(prepared pixels / token ids): tokenization is not timed',
    },
  };
}

/** How close the bf16 embeddings are to the fp32 ones, row by row. */
interface Agreement {
  meanCosine: number;
  minCosine: number;
  maxAbsDiff: number;
  rows: number;
}

/** Row-wise cosine similarity of two rows x dim matrices (embeddings need not be normalised). */
function agreement(a: Float32Array, b: Float32Array, dim: number): Agreement {
  if (a.length !== b.length || a.length % dim !== 0) throw new Error(`cannot compare ${a.length} and ${b.length} floats as rows of ${dim}`);
  const rows = a.length / dim;
  let sum = 0;
  let min = Infinity;
  let maxAbsDiff = 0;
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let c = r * dim; c < (r + 1) * dim; c++) {
      const x = a[c]!;
      const y = b[c]!;
      dot += x * y;
      na += x * x;
      nb += y * y;
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(x - y));
    }
    const cosine = dot / Math.sqrt(na * nb);
    sum += cosine;
    min = Math.min(min, cosine);
  }
  return { meanCosine: sum / rows, minCosine: min, maxAbsDiff, rows };
}

/** What a child process reports for its model. */
interface ModelReport {
  model: string;
  settings: Record<string, unknown>;
  results: ComparisonResult[];
  /** By encode row id. */
  agreement: Record<string, Agreement>;
  /** Training losses of each precision, warm-ups included, in order. */
  losses: { bf16: number[]; fp32: number[] };
  seconds: number;
}

function describeEvent(event: SideBySideEvent): string {
  const cpu = (m: { seconds: number; cpu?: { user: number; system: number } }) =>
    m.cpu ? ` [cpu ${((m.cpu.user + m.cpu.system) / m.seconds).toFixed(2)}x wall]` : '';
  if (event.kind === 'warm-up') return `${event.comparison}: warm-up ${event.side} ${event.run}/${event.of} took ${event.seconds.toFixed(2)} s${cpu(event)}`;
  const r = event.result;
  return (
    `${event.comparison}: round ${event.round}/${event.rounds} (${r.first === 'a' ? 'bf16 first' : 'fp32 first'}): ` +
    `bf16 ${r.a.rate.toFixed(3)}${cpu(r.a)}, fp32 ${r.b.rate.toFixed(3)}${cpu(r.b)}, ratio ${r.ratio.toFixed(3)}`
  );
}

/** A timed side: `work` run `reps` times, `units` per run. */
function side(label: string, warmUp: number, reps: number, units: number, work: () => Promise<unknown>): BenchSide {
  return {
    label,
    warmUp,
    async measure() {
      const before = cpuNow();
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) await work();
      return { seconds: (performance.now() - t0) / 1000, units: reps * units, cpu: cpuSince(before) };
    },
  };
}

/** The child: one model's encode and training rows. */
async function runModel(model: BenchModel, settings: Settings): Promise<ModelReport> {
  const started = performance.now();
  const plan = { ...(settings.quick ? QUICK : DEFAULTS)[model] };
  if (settings.rounds !== undefined) plan.trainRounds = settings.rounds;
  if (settings.encodeRounds !== undefined) plan.encodeRounds = settings.encodeRounds;
  const workload = model === 'resnet' ? await resnetWorkload(settings.cache) : model === 'bert' ? await bertWorkload(settings.cache) : await clipWorkload(settings.cache);
  const results: ComparisonResult[] = [];
  const agreements: Record<string, Agreement> = {};
  const onEvent = (event: SideBySideEvent) => log(describeEvent(event));

  // Encode: one instance per precision, so that neither rebuilds its frozen module on every switch.
  log(`loading two instances of ${MODEL_NAMES[model]} (fp32 and bf16)`);
  const fp32 = await workload.load();
  try {
    const bf16 = await workload.load();
    try {
      bf16.setPrecision('bf16');
      for (const row of workload.encodes) {
        // The first encode of each instance freezes its inference module: a warm-up, and the embeddings to compare.
        const a = await fp32.encodeBatch(row.batch);
        const b = await bf16.encodeBatch(row.batch);
        agreements[row.id] = agreement(b, a, fp32.outputDim);
        const g = agreements[row.id]!;
        log(`${row.id}: bf16 vs fp32 embeddings of the batch: mean cosine ${g.meanCosine.toFixed(5)}, min ${g.minCosine.toFixed(5)}, max |diff| ${g.maxAbsDiff.toExponential(2)}`);
      }
      // After the first encode: TorchScript's profiling run, then its first optimised run.
      const warmUp = settings.quick ? 1 : 2;
      const comparisons: Comparison[] = workload.encodes.map((row) => ({
        id: row.id,
        title: row.title,
        unit: row.unit,
        a: side('bf16', warmUp, plan.encodeReps, row.rows, () => bf16.encodeBatch(row.batch)),
        b: side('fp32', warmUp, plan.encodeReps, row.rows, () => fp32.encodeBatch(row.batch)),
      }));
      log(`${plan.encodeRounds} rounds of ${comparisons.map((c) => c.id).join(' + ')}, precisions alternating`);
      results.push(...(await runSideBySide(comparisons, { rounds: plan.encodeRounds, onEvent })));
    } finally {
      bf16.dispose();
    }

    // Training: one instance, switched with setPrecision before each measurement.
    fp32.nativeModel.configureTraining(workload.training);
    const losses = { bf16: [] as number[], fp32: [] as number[] };
    const step = (precision: 'bf16' | 'fp32') => async () => {
      fp32.setPrecision(precision);
      const result = await workload.trainStep(fp32);
      losses[precision].push(result.loss);
      if (!Number.isFinite(result.loss)) throw new Error(`${MODEL_NAMES[model]}: ${precision} training step gave loss ${result.loss}`);
    };
    const warmUp = Math.max(1, Math.ceil((settings.quick ? Math.min(2, workload.trainWarmUp) : workload.trainWarmUp) / plan.trainSteps));
    const train: Comparison = {
      id: `${model === 'resnet' ? 'resnet50' : model === 'bert' ? 'bert-base' : 'clip'}-train`,
      title: workload.trainTitle,
      unit: 'steps/s',
      a: side('bf16', warmUp, plan.trainSteps, 1, step('bf16')),
      b: side('fp32', warmUp, plan.trainSteps, 1, step('fp32')),
    };
    log(`${plan.trainRounds} rounds of ${train.id} (${plan.trainSteps} step${plan.trainSteps > 1 ? 's' : ''} a side), precisions alternating`);
    results.unshift(...(await runSideBySide([train], { rounds: plan.trainRounds, onEvent })));
    const mallocVars = ['MALLOC_MMAP_THRESHOLD_', 'MALLOC_ARENA_MAX'].filter((v) => process.env[v]).map((v) => `${v}=${process.env[v]}`);
    return {
      model: MODEL_NAMES[model],
      settings: {
        ...workload.settings,
        trainRounds: plan.trainRounds,
        trainStepsPerRound: plan.trainSteps,
        trainWarmUp: `${warmUp * plan.trainSteps} steps per precision`,
        encodeRounds: plan.encodeRounds,
        encodeRepsPerRound: plan.encodeReps,
        malloc: mallocVars.length > 0 ? mallocVars.join(' ') : 'glibc default',
      },
      results,
      agreement: agreements,
      losses,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    fp32.dispose();
  }
}

interface PrecisionReport {
  title: string;
  date: string;
  machine: { cpu: string; cores: number; threads: number; platform: string; node: string; bf16Flags: string[] };
  libtorch: { builtAgainst: string; runtime: string };
  goals: { trainRatio: number; cosine: number };
  settings: { quick: boolean; ompWaitPolicy: string };
  models: ModelReport[];
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match) return match[1]!.trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? 'unknown CPU';
}

function bf16Flags(): string[] {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    return (line?.split(':')[1] ?? '').trim().split(/\s+/).filter((f) => /bf16|amx/.test(f));
  } catch {
    return [];
  }
}

function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value >= 100) return value.toFixed(1);
  if (value >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

function toMarkdown(report: PrecisionReport): string {
  const { machine } = report;
  const lines = [
    `# ${report.title}`,
    '',
    `- date: ${report.date}`,
    `- machine: ${machine.cpu}, ${machine.cores} logical CPUs (bf16 flags: ${machine.bf16Flags.join(', ') || 'none'}), ${machine.platform}; threads: ${machine.threads}`,
    `- addon: LibTorch ${report.libtorch.runtime} (built against ${report.libtorch.builtAgainst}), Node ${machine.node}; OMP_WAIT_POLICY ${report.settings.ompWaitPolicy}${report.settings.quick ? ', --quick' : ''}`,
    ...report.models.map((m) => `- ${m.model}: ${Object.entries(m.settings).map(([k, v]) => `${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ')}`),
    '',
    `| benchmark | fp32 | bf16 | ratio bf16/fp32 (median over rounds) | range | rounds | goal |`,
    '|---|---:|---:|---:|---:|---:|:---:|',
  ];
  for (const m of report.models) {
    for (const r of m.results) {
      const train = r.unit === 'steps/s';
      const goal = train ? `>= ${report.goals.trainRatio}: ${r.medianRatio >= report.goals.trainRatio ? 'PASS' : 'MISS'}` : '–';
      lines.push(
        `| ${r.title} | ${fmt(r.medianRate.b)} ${r.unit} | ${fmt(r.medianRate.a)} ${r.unit} | ${r.medianRatio.toFixed(3)} | ` +
          `${r.minRatio.toFixed(3)} – ${r.maxRatio.toFixed(3)} | ${r.rounds.length} | ${goal} |`,
      );
    }
  }
  lines.push('', `| embeddings of the same batch | mean cosine bf16 vs fp32 | min cosine | max abs diff | rows | goal >= ${report.goals.cosine} |`, '|---|---:|---:|---:|---:|:---:|');
  for (const m of report.models) {
    for (const [id, g] of Object.entries(m.agreement)) {
      const title = m.results.find((r) => r.id === id)?.title ?? id;
      lines.push(`| ${title} | ${g.meanCosine.toFixed(5)} | ${g.minCosine.toFixed(5)} | ${g.maxAbsDiff.toExponential(2)} | ${g.rows} | ${g.meanCosine >= report.goals.cosine ? 'PASS' : 'MISS'} |`);
    }
  }
  lines.push('', '| benchmark | fp32 CPU use (user+sys / wall) | bf16 CPU use |', '|---|---:|---:|');
  const use = (u: { total: number } | undefined) => (u ? `${u.total.toFixed(2)}x` : 'n/a');
  for (const m of report.models) for (const r of m.results) lines.push(`| ${r.title} | ${use(r.cpuPerWall?.b)} | ${use(r.cpuPerWall?.a)} |`);
  lines.push('');
  for (const m of report.models) {
    const last = (xs: number[]) => (xs.length > 0 ? xs[xs.length - 1]!.toFixed(4) : 'n/a');
    const perStep = m.results.filter((r) => r.unit === 'steps/s').map((r) => `median step fp32 ${median(r.rounds.map((x) => x.b.seconds / x.b.units)).toFixed(2)} s, bf16 ${median(r.rounds.map((x) => x.a.seconds / x.a.units)).toFixed(2)} s`);
    lines.push(`- ${m.model}: ${perStep.join('; ')}; training losses all finite (last fp32 ${last(m.losses.fp32)}, last bf16 ${last(m.losses.bf16)}); ${m.seconds.toFixed(0)} s in all.`);
  }
  lines.push(
    '',
    'Rates are medians over the rounds; the ratio is the median of the per-round ratios (the precisions alternate: bf16 fp32, then fp32 bf16). ' +
      `CPU use near ${machine.threads}.00x means the process had its CPUs; much less means other processes took them.`,
  );
  return `${lines.join('\n')}\n`;
}

/** Runs each model in a child process of its own (glibc reads its malloc settings at start), then reports. */
async function runParent(settings: Settings): Promise<number> {
  const started = performance.now();
  const scratch = await mkdtemp(join(tmpdir(), 'finetuner-precision-'));
  try {
    const models: ModelReport[] = [];
    for (const model of settings.models) {
      const json = join(scratch, `${model}.json`);
      const args = ['--models', model, '--threads', String(settings.threads), '--cache', settings.cache, '--json', json];
      if (settings.rounds !== undefined) args.push('--rounds', String(settings.rounds));
      if (settings.encodeRounds !== undefined) args.push('--encode-rounds', String(settings.encodeRounds));
      if (settings.quick) args.push('--quick');
      const env: Record<string, string | undefined> = {
        [CHILD_ENV]: '1',
        // libgomp reads it when LibTorch loads; passive as in npm run bench (the machine is shared).
        OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE',
        MALLOC_MMAP_THRESHOLD_: model === 'bert' ? String(MMAP_THRESHOLD) : undefined,
        MALLOC_ARENA_MAX: model === 'clip' ? '1' : undefined,
      };
      log(`${model}: child process${env.MALLOC_MMAP_THRESHOLD_ ? ` MALLOC_MMAP_THRESHOLD_=${env.MALLOC_MMAP_THRESHOLD_}` : ''}${env.MALLOC_ARENA_MAX ? ` MALLOC_ARENA_MAX=${env.MALLOC_ARENA_MAX}` : ''}`);
      const code = await runBenchChild(fileURLToPath(import.meta.url), args, env);
      if (code !== 0) throw new Error(`the ${model} run failed (exit code ${code})`);
      models.push(JSON.parse(await readFile(json, 'utf8')) as ModelReport);
    }
    const runtime = runtimeInfo();
    const report: PrecisionReport = {
      title: `finetuner bench: bf16 autocast vs fp32 on CPU, ${settings.models.map((m) => MODEL_NAMES[m]).join(', ')}`,
      date: new Date().toISOString(),
      machine: { cpu: cpuModel(), cores: availableParallelism(), threads: settings.threads, platform: `${platform()} ${release()}`, node: process.version, bf16Flags: bf16Flags() },
      libtorch: { builtAgainst: runtime.builtAgainst, runtime: runtime.runtime },
      goals: { trainRatio: TRAIN_GOAL, cosine: COSINE_GOAL },
      settings: { quick: settings.quick, ompWaitPolicy: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' },
      models,
    };
    await mkdir(settings.out, { recursive: true });
    const markdown = toMarkdown(report);
    await writeFile(join(settings.out, 'precision.md'), markdown);
    await writeFile(join(settings.out, 'precision.json'), `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`\n${markdown}`);
    log(`wrote ${join(settings.out, 'precision.md')} and precision.json (${((performance.now() - started) / 1000).toFixed(0)} s in all)`);
    return 0;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}


async function main(argv: string[]): Promise<number> {
  let settings: Settings | undefined;
  try {
    settings = parseSettings(argv);
  } catch (error) {
    process.stderr.write(`bench-precision: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (!settings) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (process.env[CHILD_ENV] !== '1') {
    if (!cpuHasBf16()) log('warning: this CPU reports neither avx512_bf16 nor amx_bf16: bf16 runs emulated and is expected to be slower than fp32');
    return runParent(settings);
  }
  if (settings.models.length !== 1 || !settings.json) throw new Error('child: needs one model and --json');
  loadBinding().setNumThreads(settings.threads);
  const report = await runModel(settings.models[0]!, settings);
  await writeFile(settings.json, JSON.stringify(report));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench-precision: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
