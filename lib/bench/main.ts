#!/usr/bin/env node
// `npm run bench`: the addon against the same models in PyTorch eager (/usr/bin/python3, same thread
// count) on the CPU, measured side by side in one run: resnet50 at batch 16 (training steps/s, encode
// images/s) and bert-base-cased at batch 32 x 128 tokens (MultipleNegativesRankingLoss training steps/s,
// encode sentences/s, the share of encode time spent tokenizing). Prints a markdown table and writes
// bench-results/latest.md and latest.json.

import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, platform, release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadBinding, packageRoot, runtimeInfo } from '../loader.js';
import { BERT_DEFAULTS, BERT_LENGTH, BERT_MODEL, BERT_ROWS, prepareBertBench } from './bert.js';
import { writeReport, toMarkdown, type BenchReport } from './report.js';
import { prepareResnetBench, RESNET_BATCH, RESNET_DEFAULTS, RESNET_MODEL } from './resnet.js';
import type { BenchKind, ModelBenchSettings, PreparedBench } from './shared.js';
import { runSideBySide, type ComparisonResult, type CpuUsage, type SideBySideEvent } from './sideBySide.js';

const GOAL_RATIO = 0.95;

type BenchModel = 'resnet' | 'bert';
const MODELS: readonly BenchModel[] = ['resnet', 'bert'];
const KINDS: readonly BenchKind[] = ['train', 'encode'];
/** Names accepted for each model in --models and --only. */
const MODEL_ALIASES: Record<string, BenchModel> = {
  resnet: 'resnet',
  resnet50: 'resnet',
  bert: 'bert',
  'bert-base': 'bert',
  [BERT_MODEL]: 'bert',
};

const USAGE = `usage: npm run bench -- [options]

Benchmarks the finetuner addon against the same model in PyTorch eager (/usr/bin/python3) on the CPU,
alternating the two sides round by round, and reports the median of the per-round ratios addon/python
(goal >= ${GOAL_RATIO}):
  resnet  ${RESNET_MODEL}, batch ${RESNET_BATCH}, 224x224: training steps/s (batch-hard triplet, adam) and encode images/s
  bert    ${BERT_MODEL} full size, random weights, batch ${BERT_ROWS} texts x ${BERT_LENGTH} tokens: training steps/s
          (MultipleNegativesRankingLoss on ${BERT_ROWS} pairs, adam lr 2e-5) and encode sentences/s (model.encode(texts),
          tokenization included), plus the share of encode time spent tokenizing
Encoding is measured before training (a training step makes the addon rebuild its frozen inference module).

options:
  --models LIST      comma-separated: resnet, bert (default: both)
  --only LIST        comma-separated rows: train, encode (of every model), a model (resnet, bert) or one row:
                     resnet-train, resnet-encode, bert-train, bert-encode (default: all rows)
  --rounds N         measured rounds of every row (default: resnet 5; bert encode 5, bert train 3; --quick 2/2/1)
  --threads N        intra-op threads of both sides (default: os.availableParallelism() = ${availableParallelism()})
  --quick            smoke run: fewer rounds, minimal warm-up (figures are rough)
  --train-steps N    training steps per side per round (default: resnet 2, bert 1; 1 with --quick)
  --encode-reps N    encodes of the batch per side per round (default: resnet 2, bert 1; 1 with --quick)
  --out DIR          where latest.md and latest.json go (default: bench-results/ in the package)
  --cache DIR        exported models (default: $FINETUNER_BENCH_CACHE or <tmpdir>/finetuner-bench); bert-base-cased
                     and its tokenizer are built there once (~1 minute)
  --omp-wait-policy P  passive (default, or $OMP_WAIT_POLICY when set), active or default (libgomp's own),
                     set on BOTH sides before LibTorch loads. Why: libgomp spins at barriers for up to 300k
                     iterations unless a process manages more OpenMP threads than CPUs. The addon does (one
                     team per libuv worker), so it spins only ~100; Python does not. On a shared machine
                     that alone made PyTorch eager ~2x slower, so the sides must run under the same policy.
                     'active' spins forever: idle threads of one side then slow down the other.
  --strict           exit with code 1 when a ratio misses the goal
  -h, --help         this text

On 2 idle cores: resnet takes 3-8 minutes (a training step at batch 16 takes 3-8 s), bert about 6 (an encode
of the batch ~6 s, a training step ~30 s); more when other processes load the machine. --quick: 1-2 and ~3.`;

interface Settings {
  models: BenchModel[];
  /** Rows per model. */
  rows: Map<BenchModel, Set<BenchKind>>;
  rounds: number | undefined;
  threads: number;
  quick: boolean;
  trainSteps: number | undefined;
  encodeReps: number | undefined;
  out: string;
  cache: string;
  strict: boolean;
  ompWaitPolicy: 'passive' | 'active' | 'default';
}

function positive(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

class UsageError extends Error {}

function list(value: string | undefined): string[] | undefined {
  return value?.split(',').map((v) => v.trim().toLowerCase()).filter((v) => v !== '');
}

function modelOf(name: string, flag: string): BenchModel {
  const model = MODEL_ALIASES[name];
  if (!model) throw new UsageError(`${flag}: unknown model ${JSON.stringify(name)}; use ${MODELS.join(' or ')}`);
  return model;
}

/** --models and --only: which rows of which models run. */
function selectRows(modelsFlag: string | undefined, onlyFlag: string | undefined): Map<BenchModel, Set<BenchKind>> {
  const listed = list(modelsFlag);
  if (listed && listed.length === 0) throw new UsageError('--models needs at least one model');
  const models = new Set(listed ? listed.map((m) => modelOf(m, '--models')) : MODELS);
  const only = list(onlyFlag);
  if (only && only.length === 0) throw new UsageError('--only needs at least one row');
  const rows = new Map<BenchModel, Set<BenchKind>>();
  const add = (model: BenchModel, kind: BenchKind, named: boolean) => {
    if (!models.has(model)) {
      if (named && listed) throw new UsageError(`--only ${onlyFlag} names ${model} rows, but --models ${modelsFlag} leaves ${model} out`);
      if (!named) return;
    }
    if (!rows.has(model)) rows.set(model, new Set());
    rows.get(model)!.add(kind);
  };
  if (!only) {
    for (const model of models) for (const kind of KINDS) add(model, kind, false);
    return rows;
  }
  // Rows named with their model select only those models unless --models says otherwise.
  const generic = only.filter((o) => (KINDS as readonly string[]).includes(o)) as BenchKind[];
  const specific = only.filter((o) => !(KINDS as readonly string[]).includes(o));
  if (specific.length > 0 && !listed) models.clear();
  for (const token of specific) {
    const kind = KINDS.find((k) => token.endsWith(`-${k}`));
    const model = modelOf(kind ? token.slice(0, -kind.length - 1) : token, '--only');
    models.add(model);
    for (const k of kind ? [kind] : KINDS) add(model, k, true);
  }
  for (const model of models) for (const kind of generic) add(model, kind, false);
  if (rows.size === 0) throw new UsageError(`--only ${onlyFlag} selects no row`);
  return rows;
}

function parseSettings(argv: string[]): Settings | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      models: { type: 'string' },
      rounds: { type: 'string' },
      threads: { type: 'string' },
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'train-steps': { type: 'string' },
      'encode-reps': { type: 'string' },
      out: { type: 'string' },
      cache: { type: 'string' },
      strict: { type: 'boolean', default: false },
      'omp-wait-policy': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return undefined;
  const rows = selectRows(values.models, values.only);
  const policy = (values['omp-wait-policy'] ?? process.env.OMP_WAIT_POLICY ?? 'passive').toLowerCase();
  if (policy !== 'passive' && policy !== 'active' && policy !== 'default') {
    throw new UsageError(`--omp-wait-policy must be passive, active or default, got ${JSON.stringify(policy)}`);
  }
  return {
    models: MODELS.filter((m) => rows.has(m)),
    rows,
    rounds: positive(values.rounds, '--rounds'),
    threads: positive(values.threads, '--threads') ?? availableParallelism(),
    quick: values.quick!,
    trainSteps: positive(values['train-steps'], '--train-steps'),
    encodeReps: positive(values['encode-reps'], '--encode-reps'),
    out: resolve(values.out ?? join(packageRoot(), 'bench-results')),
    cache: resolve(values.cache ?? process.env.FINETUNER_BENCH_CACHE ?? join(tmpdir(), 'finetuner-bench')),
    strict: values.strict!,
    ompWaitPolicy: policy,
  };
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

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

function cpuText(m: { seconds: number; cpu?: CpuUsage }): string {
  return m.cpu ? ` [cpu ${((m.cpu.user + m.cpu.system) / m.seconds).toFixed(2)}x wall, sys ${(m.cpu.system / m.seconds).toFixed(2)}x]` : '';
}

function describeEvent(event: SideBySideEvent): string {
  if (event.kind === 'warm-up') {
    return `${event.comparison}: warm-up ${event.side} ${event.run}/${event.of} took ${event.seconds.toFixed(2)} s${cpuText(event)}`;
  }
  const r = event.result;
  const order = r.first === 'a' ? 'addon first' : 'python first';
  return (
    `${event.comparison}: round ${event.round}/${event.rounds} (${order}): addon ${r.a.rate.toFixed(3)}${cpuText(r.a)}, ` +
    `python ${r.b.rate.toFixed(3)}${cpuText(r.b)}, ratio ${r.ratio.toFixed(3)}`
  );
}

function prepare(model: BenchModel, settings: Settings): Promise<PreparedBench> {
  const { quick } = settings;
  const common: ModelBenchSettings = {
    threads: settings.threads,
    quick,
    trainSteps: settings.trainSteps ?? (model === 'bert' ? BERT_DEFAULTS.trainSteps() : RESNET_DEFAULTS.trainSteps(quick)),
    encodeReps: settings.encodeReps ?? (model === 'bert' ? BERT_DEFAULTS.encodeReps() : RESNET_DEFAULTS.encodeReps(quick)),
    kinds: settings.rows.get(model)!,
    cache: settings.cache,
    log,
  };
  if (model === 'resnet') return prepareResnetBench({ ...common, rounds: settings.rounds ?? RESNET_DEFAULTS.rounds(quick) });
  return prepareBertBench({
    ...common,
    encodeRounds: settings.rounds ?? BERT_DEFAULTS.encodeRounds(quick),
    trainRounds: settings.rounds ?? BERT_DEFAULTS.trainRounds(quick),
  });
}

async function main(argv: string[]): Promise<number> {
  let settings: Settings | undefined;
  try {
    settings = parseSettings(argv);
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (!settings) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const started = performance.now();
  // libgomp reads OMP_WAIT_POLICY once, when LibTorch is loaded: set it before loadBinding(); the Python
  // workers inherit it.
  if (settings.ompWaitPolicy === 'default') delete process.env.OMP_WAIT_POLICY;
  else process.env.OMP_WAIT_POLICY = settings.ompWaitPolicy.toUpperCase();
  const binding = loadBinding();
  binding.setNumThreads(settings.threads);
  const runtime = runtimeInfo();

  const results: ComparisonResult[] = [];
  const modelSettings: Record<string, Record<string, unknown>> = {};
  const notes: string[] = [];
  const extra: Record<string, unknown> = {};
  let python: Record<string, unknown> = {};
  // One model at a time: each has its own Python worker, and both sides of bert-base hold ~2 GB.
  for (const model of settings.models) {
    const bench = await prepare(model, settings);
    try {
      const modelResults: ComparisonResult[] = [];
      for (const phase of bench.phases) {
        log(`${phase.rounds} rounds of ${phase.comparisons.map((c) => c.id).join(' + ')}, sides alternating`);
        modelResults.push(...(await runSideBySide(phase.comparisons, { rounds: phase.rounds, onEvent: (event) => log(describeEvent(event)) })));
      }
      // Report rows in a fixed order: train, then encode, as before.
      modelResults.sort((x, y) => Number(x.id.endsWith('-encode')) - Number(y.id.endsWith('-encode')));
      results.push(...modelResults);
      modelSettings[model === 'bert' ? BERT_MODEL : RESNET_MODEL] = bench.settings;
      python = { ...bench.python, ...python, ready: undefined };
      const finished = bench.finish?.(modelResults);
      if (finished) {
        notes.push(...finished.notes);
        if (finished.data) extra[model] = finished.data;
      }
    } finally {
      await bench.close();
    }
  }

  const names = settings.models.map((m) => (m === 'bert' ? BERT_MODEL : RESNET_MODEL));
  const report: BenchReport = {
    title: `finetuner bench: addon vs PyTorch eager, ${names.join(' and ')} on CPU`,
    date: new Date().toISOString(),
    machine: {
      cpu: cpuModel(),
      cores: availableParallelism(),
      threads: settings.threads,
      platform: `${platform()} ${release()}`,
      node: process.version,
    },
    libtorch: { builtAgainst: runtime.builtAgainst, runtime: runtime.runtime, addonPath: runtime.path },
    python,
    goalRatio: GOAL_RATIO,
    settings: { quick: settings.quick, ompWaitPolicy: settings.ompWaitPolicy },
    models: modelSettings,
    results,
    notes,
    extra,
    pass: results.every((r) => r.medianRatio >= GOAL_RATIO),
  };
  const files = await writeReport(report, settings.out);
  process.stdout.write(`\n${toMarkdown(report)}\n`);
  log(`wrote ${files.markdown} and ${files.json} (${((performance.now() - started) / 1000).toFixed(0)} s in all)`);
  return settings.strict && !report.pass ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
