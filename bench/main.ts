#!/usr/bin/env node
// `npm run bench`: the addon against the same models in PyTorch eager (/usr/bin/python3, same thread
// count) on the CPU, measured side by side in one run: resnet50 at batch 16 (training steps/s, encode
// images/s), bert-base-cased at batch 32 x 128 tokens (MultipleNegativesRankingLoss training steps/s,
// encode sentences/s, the share of encode time spent tokenizing) and CLIP ViT-B-32 at batch 32 (image
// encode images/s, text encode texts/s, contrastive training steps/s); and against onnxruntime-node
// (bench/onnx.ts) on encode end to end from strings and image files. Prints markdown tables and
// writes bench-results/latest.md and latest.json. The rows and their selection: rows.ts.
// Over 400 lines because it is the one entry of `npm run bench`: argument parsing, the run plan and the
// side-by-side tables of every benchmark live together so a reader sees what each row measures.

import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, cpus, platform, release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadBinding, packageRoot, runtimeInfo } from '../lib/addonLoader.js';
import { BERT_DEFAULTS, BERT_LENGTH, BERT_MODEL, BERT_ROWS, prepareBertBench } from './bert.js';
import { BENCH_COMMANDS } from './commands.js';
import { CLIP_DEFAULTS, CLIP_LABEL, CLIP_LENGTH, CLIP_MODEL, CLIP_ROWS, prepareClipBench } from './clip.js';
import { ONNX_DEFAULTS, ORT_ROWS, prepareOnnxBench } from './onnx.js';
import { allPass, writeReport, toMarkdown, type BenchReport } from './report.js';
import { prepareResnetBench, RESNET_BATCH, RESNET_DEFAULTS, RESNET_MODEL } from './resnet.js';
import {
  MODEL_NAMES,
  MODELS,
  ORT_GOAL,
  PYTHON_GOAL,
  rowGoal,
  rowRank,
  selectedRowIds,
  selectRows,
  UsageError,
  type BenchModel,
  type RowSelection,
} from './rows.js';
import { positiveFlag, runBenchChild, type ModelBenchSettings, type PreparedBench, type RowQuality } from './shared.js';
import { runSideBySide, type ComparisonResult, type CpuUsage, type SideBySideEvent } from './sideBySide.js';

/** --malloc release: glibc mmaps every allocation from this size up and unmaps it when freed. */
const MMAP_THRESHOLD = 131072;
type MallocPolicy = 'auto' | 'release' | 'one-arena' | 'default';
const MALLOC_POLICIES: readonly MallocPolicy[] = ['auto', 'release', 'one-arena', 'default'];
/** Set in the child process that runs one model's rows (see runModelInChild). */
const CHILD_ENV = 'FINETUNER_BENCH_CHILD';

const USAGE = `usage: npm run bench -- [options]
       npm run bench -- serve [options]   (the server's load test: bench/serve.ts, --help for its options)

Benchmarks the finetuner addon against the same model in PyTorch eager (/usr/bin/python3) on the CPU,
alternating the two sides round by round, and reports the median of the per-round ratios addon/python
(goal >= ${PYTHON_GOAL}):
  resnet  ${RESNET_MODEL}, batch ${RESNET_BATCH}, 224x224: training steps/s (batch-hard triplet, adam) and encode images/s
  bert    ${BERT_MODEL} full size, random weights, batch ${BERT_ROWS} texts x ${BERT_LENGTH} tokens: training steps/s
          (MultipleNegativesRankingLoss on ${BERT_ROWS} pairs, adam lr 2e-5) and encode sentences/s (model.encode(texts),
          tokenization included), plus the share of encode time spent tokenizing
  clip    ${CLIP_MODEL} (${CLIP_LABEL}) full size, random weights, batch ${CLIP_ROWS}: image encode images/s (prepared
          224x224 pixels), text encode texts/s (model.encodeText(texts) of ${CLIP_ROWS} x ${CLIP_LENGTH} tokens, tokenization
          included) and training steps/s (CLIP's contrastive loss on ${CLIP_ROWS} text-image pairs, adam lr 1e-5)
  ort     the addon against onnxruntime-node (fp32, same threads, graph optimisation 'all') on encode, batch ${ORT_ROWS}, end to end:
          ${BERT_MODEL} from strings (${BERT_LENGTH} tokens), ${RESNET_MODEL} and the ${CLIP_LABEL} image tower from image files
          (JPEG and PNG, 256-400 px); the addon at its default precision (goal default/ORT >= ${ORT_GOAL}), at fp32
          where the default is not fp32 (goal >= 1.0) and at int8 (text and ViT); the GEMM peak of each precision;
          the ONNX models are exported by /usr/bin/python3 torch from the same weights (scripts/bench/onnx_export.py)
Encoding is measured before training (a training step makes the addon rebuild its frozen inference module).
Other benchmarks: npm run bench -- evaluate (retrieval metrics, native against the old JavaScript loop;
--help lists its options), npm run bench -- distributed (data-parallel fit, 1 against 2 processes);
bench/commands.ts lists them.

options:
  --models LIST      comma-separated: resnet, bert, clip, ort (default: all four)
  --only LIST        comma-separated rows: train, encode (of every model; encode includes clip's image-encode
                     and text-encode and the three ort rows), a model (resnet, bert, clip, ort) or one row:
                     resnet-train, resnet-encode, bert-train, bert-encode, clip-image-encode, clip-text-encode,
                     clip-train, ort-bert-encode, ort-resnet-encode, ort-clip-image-encode (default: all rows)
  --rounds N         measured rounds of every row (default: resnet 5; bert encode 5, bert train 3; clip encode 5,
                     clip train 5; ort 5; --quick 2/2/1/2/1/2)
  --threads N        intra-op threads of both sides (default: os.availableParallelism() = ${availableParallelism()})
  --quick            smoke run: fewer rounds, minimal warm-up (figures are rough)
  --train-steps N    training steps per side per round (default: resnet 2, bert 1, clip 1; 1 with --quick)
  --encode-reps N    encodes of the batch per side per round (default: resnet 2, bert 1, clip 2, ort bert 1 and
                     images 2; 1 with --quick)
  --out DIR          where latest.md and latest.json go (default: bench-results/ in the package)
  --cache DIR        exported models (default: $FINETUNER_BENCH_CACHE or <tmpdir>/finetuner-bench); bert-base-cased,
                     ${CLIP_MODEL} and their tokenizers are built there once (~1 minute each)
  --omp-wait-policy P  passive (default, or $OMP_WAIT_POLICY when set), active or default (libgomp's own),
                     set on BOTH sides before LibTorch loads. Why: libgomp spins at barriers for up to 300k
                     iterations unless a process manages more OpenMP threads than CPUs. The addon does (one
                     team per libuv worker), so it spins only ~100; Python does not. On a shared machine
                     that alone made PyTorch eager ~2x slower, so the sides must run under the same policy.
                     'active' spins forever: idle threads of one side then slow down the other.
  --list             print the rows the options select, and exit
  --malloc P         auto (default), release, one-arena or default: glibc's malloc settings for BOTH sides of a
                     model. release sets MALLOC_MMAP_THRESHOLD_=${MMAP_THRESHOLD}: freed tensors go back to the system.
                     one-arena sets MALLOC_ARENA_MAX=1: every thread allocates from the main heap.
                     auto: release for bert, one-arena for clip, glibc's default for resnet and ort. Why: with glibc's
                     own dynamic threshold, bert-base training at 32 pairs x 128 keeps ~17-20 GB resident per
                     process after 3 steps (the addon and PyTorch eager alike: freed activations stay in
                     fragmented heaps), so the two sides together run out of memory on a 24 GB machine; with
                     release each peaks at ~9 GB and idles at ~2.5 GB, but pays page faults for every large
                     tensor (resnet50 runs ~35% slower on both sides). CLIP training at 32 pairs: the addon,
                     which allocates on a libuv worker thread (a malloc arena of its own), grows to ~16-17.5 GB
                     in 6 steps and pays 2-10 s of page faults a step meanwhile; PyTorch eager, on the main
                     thread, stays at ~5.5 GB. With one-arena the addon settles at ~8 GB within 2 steps (eager
                     is unaffected); with release it stays at 2.7 GB but runs ~50% slower.
                     glibc reads these settings at process start, so each model runs in its own child process.
  --strict           exit with code 1 when a ratio misses the goal
  -h, --help         this text

On 2 idle cores: resnet takes 3-8 minutes (a training step at batch 16 takes 3-8 s), bert about 7 (an encode
of the batch ~6 s, a training step ~40 s; peak memory ~12 GB), clip about 6 (an encode of the batch 1.5-3.5 s
a tower, a training step ~10 s, 5 of them warm-ups; peak memory ~15 GB), ort about 6 (the first run exports
the three ONNX models, ~20 s); more when other processes load the machine. --quick: 1-2, ~3, ~1.5 and ~3
minutes.`;

interface Settings {
  models: BenchModel[];
  /** Rows per model. */
  rows: RowSelection;
  rounds: number | undefined;
  threads: number;
  quick: boolean;
  trainSteps: number | undefined;
  encodeReps: number | undefined;
  out: string;
  cache: string;
  strict: boolean;
  list: boolean;
  ompWaitPolicy: 'passive' | 'active' | 'default';
  malloc: MallocPolicy;
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
      malloc: { type: 'string' },
      list: { type: 'boolean', default: false },
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
  const malloc = (values.malloc ?? 'auto') as MallocPolicy;
  if (!MALLOC_POLICIES.includes(malloc)) {
    throw new UsageError(`--malloc must be auto, release, one-arena or default, got ${JSON.stringify(malloc)}`);
  }
  return {
    models: MODELS.filter((m) => rows.has(m)),
    rows,
    rounds: positiveFlag(values.rounds, '--rounds'),
    threads: positiveFlag(values.threads, '--threads') ?? availableParallelism(),
    quick: values.quick!,
    trainSteps: positiveFlag(values['train-steps'], '--train-steps'),
    encodeReps: positiveFlag(values['encode-reps'], '--encode-reps'),
    out: resolve(values.out ?? join(packageRoot(), 'bench-results')),
    cache: resolve(values.cache ?? process.env.FINETUNER_BENCH_CACHE ?? join(tmpdir(), 'finetuner-bench')),
    strict: values.strict!,
    list: values.list!,
    ompWaitPolicy: policy,
    malloc,
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
    trainSteps: settings.trainSteps ?? (model === 'bert' ? BERT_DEFAULTS.trainSteps() : model === 'clip' ? CLIP_DEFAULTS.trainSteps() : RESNET_DEFAULTS.trainSteps(quick)),
    encodeReps: settings.encodeReps ?? (model === 'bert' ? BERT_DEFAULTS.encodeReps() : model === 'clip' ? CLIP_DEFAULTS.encodeReps(quick) : RESNET_DEFAULTS.encodeReps(quick)),
    kinds: settings.rows.get(model)!,
    cache: settings.cache,
    log,
  };
  if (model === 'ort') return prepareOnnxBench({ ...common, rounds: settings.rounds ?? ONNX_DEFAULTS.rounds(quick), encodeRepsFlag: settings.encodeReps });
  if (model === 'resnet') return prepareResnetBench({ ...common, rounds: settings.rounds ?? RESNET_DEFAULTS.rounds(quick) });
  if (model === 'clip') {
    return prepareClipBench({
      ...common,
      encodeRounds: settings.rounds ?? CLIP_DEFAULTS.encodeRounds(quick),
      trainRounds: settings.rounds ?? CLIP_DEFAULTS.trainRounds(quick),
    });
  }
  return prepareBertBench({
    ...common,
    encodeRounds: settings.rounds ?? BERT_DEFAULTS.encodeRounds(quick),
    trainRounds: settings.rounds ?? BERT_DEFAULTS.trainRounds(quick),
  });
}

async function main(argv: string[]): Promise<number> {
  const command = argv[0] === undefined ? undefined : BENCH_COMMANDS[argv[0]];
  if (command) return command(argv.slice(1));
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
  if (settings.list) {
    for (const model of settings.models) for (const id of selectedRowIds(settings.rows, model)) process.stdout.write(`${id}\n`);
    return 0;
  }
  if (process.env[CHILD_ENV] !== '1') return runModelsInChildren(settings);

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
  const rowQuality: Record<string, RowQuality> = {};
  const mallocVars = ['MALLOC_MMAP_THRESHOLD_', 'MALLOC_ARENA_MAX'].filter((v) => process.env[v]).map((v) => `${v}=${process.env[v]}`);
  const mallocText = mallocVars.length > 0 ? `${mallocVars.join(' ')} (both sides)` : 'glibc default';
  for (const model of settings.models) {
    const bench = await prepare(model, settings);
    try {
      const modelResults: ComparisonResult[] = [];
      for (const phase of bench.phases) {
        if ('run' in phase) {
          log(`${phase.rounds} rounds of ${phase.ids.join(' + ')}, three sides in turning order`);
          modelResults.push(...(await phase.run(log)));
          continue;
        }
        log(`${phase.rounds} rounds of ${phase.comparisons.map((c) => c.id).join(' + ')}, sides alternating`);
        modelResults.push(...(await runSideBySide(phase.comparisons, { rounds: phase.rounds, onEvent: (event) => log(describeEvent(event)) })));
      }
      // Report rows in the model's fixed order (resnet, bert: train, then encode).
      modelResults.sort((x, y) => rowRank(model, x.id) - rowRank(model, y.id));
      results.push(...modelResults);
      modelSettings[MODEL_NAMES[model]] = { ...bench.settings, malloc: mallocText };
      python = { ...bench.python, ...python, ready: undefined };
      const finished = bench.finish?.(modelResults);
      if (finished) {
        notes.push(...finished.notes);
        if (finished.data) extra[model] = finished.data;
        Object.assign(rowQuality, finished.quality);
      }
    } finally {
      await bench.close();
    }
  }

  const report: BenchReport = {
    title: benchTitle(settings.models),
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
    goalRatio: PYTHON_GOAL,
    rowGoals: Object.fromEntries(results.map((r) => [r.id, rowGoal(r.id)])),
    rowQuality,
    settings: { quick: settings.quick, ompWaitPolicy: settings.ompWaitPolicy, malloc: settings.malloc },
    models: modelSettings,
    results,
    notes,
    extra,
    pass: false,
  };
  report.pass = allPass(report);
  const files = await writeReport(report, settings.out);
  log(`${settings.models.join(', ')}: wrote ${files.json} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  return 0;
}

function benchTitle(models: readonly BenchModel[]): string {
  const join = (names: string[]) => (names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}` : names[0]);
  const eager = models.filter((m) => m !== 'ort');
  const peers = [...(eager.length > 0 ? [`PyTorch eager (${join(eager.map((m) => MODEL_NAMES[m]))})`] : []), ...(models.includes('ort') ? ['onnxruntime-node'] : [])];
  return `finetuner bench: addon vs ${peers.join(' and ')} on CPU`;
}

function mallocEnv(model: BenchModel, policy: MallocPolicy): Record<string, string | undefined> {
  // 'default' leaves whatever the caller's environment says. The ort rows only encode: glibc's defaults.
  if (policy === 'default') return {};
  const chosen = policy !== 'auto' ? policy : model === 'bert' ? 'release' : model === 'clip' ? 'one-arena' : 'default';
  return {
    MALLOC_MMAP_THRESHOLD_: chosen === 'release' ? String(MMAP_THRESHOLD) : undefined,
    MALLOC_ARENA_MAX: chosen === 'one-arena' ? '1' : undefined,
  };
}

/**
 * Runs each model's rows in a child process of its own (glibc reads its malloc settings at process
 * start, and a model's figures then do not depend on which others ran before it), then merges their
 * JSON reports into one table.
 */
async function runModelsInChildren(settings: Settings): Promise<number> {
  const started = performance.now();
  const scratch = await mkdtemp(join(tmpdir(), 'finetuner-bench-run-'));
  try {
    const reports: BenchReport[] = [];
    for (const model of settings.models) {
      const out = join(scratch, model);
      const rows = selectedRowIds(settings.rows, model);
      const args = [
        '--only', rows.join(','),
        '--threads', String(settings.threads),
        '--cache', settings.cache,
        '--out', out,
        '--omp-wait-policy', settings.ompWaitPolicy,
        '--malloc', settings.malloc,
      ];
      if (settings.rounds !== undefined) args.push('--rounds', String(settings.rounds));
      if (settings.trainSteps !== undefined) args.push('--train-steps', String(settings.trainSteps));
      if (settings.encodeReps !== undefined) args.push('--encode-reps', String(settings.encodeReps));
      if (settings.quick) args.push('--quick');
      const env: Record<string, string | undefined> = { ...mallocEnv(model, settings.malloc), [CHILD_ENV]: '1' };
      const vars = ['MALLOC_MMAP_THRESHOLD_', 'MALLOC_ARENA_MAX'].map((v) => [v, v in env ? env[v] : process.env[v]]).filter(([, value]) => value);
      log(`${model}: ${vars.length > 0 ? vars.map(([v, value]) => `${v}=${value}`).join(' ') : 'glibc malloc defaults'}`);
      const code = await runBenchChild(fileURLToPath(import.meta.url), args, env);
      if (code !== 0) throw new Error(`the ${model} bench failed (exit code ${code})`);
      reports.push(JSON.parse(await readFile(join(out, 'latest.json'), 'utf8')) as BenchReport);
    }
    const first = reports[0]!;
    const results = reports.flatMap((r) => r.results);
    const report: BenchReport = {
      ...first,
      title: benchTitle(settings.models),
      date: new Date().toISOString(),
      python: Object.assign({}, ...reports.map((r) => r.python).reverse()) as Record<string, unknown>,
      models: Object.assign({}, ...reports.map((r) => r.models)) as Record<string, Record<string, unknown>>,
      results,
      notes: reports.flatMap((r) => r.notes ?? []),
      extra: Object.assign({}, ...reports.map((r) => r.extra)) as Record<string, unknown>,
      rowGoals: Object.assign({}, ...reports.map((r) => r.rowGoals)) as Record<string, number | null>,
      rowQuality: Object.assign({}, ...reports.map((r) => r.rowQuality)) as Record<string, RowQuality>,
      pass: false,
    };
    report.pass = allPass(report);
    const files = await writeReport(report, settings.out);
    process.stdout.write(`\n${toMarkdown(report)}\n`);
    log(`wrote ${files.markdown} and ${files.json} (${((performance.now() - started) / 1000).toFixed(0)} s in all)`);
    return settings.strict && !report.pass ? 1 : 0;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
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
