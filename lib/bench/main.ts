#!/usr/bin/env node
// `npm run bench`: resnet50 at batch 16 on the CPU, the addon against the same model in PyTorch eager
// (/usr/bin/python3, same thread count), measured side by side in one run. Prints a markdown table and
// writes bench-results/latest.md and latest.json.

import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, platform, release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { NativeTrainOptions } from '../binding.js';
import type { ImageBatch } from '../data/images.js';
import { exportModel } from '../export.js';
import { loadBinding, packageRoot, runtimeInfo } from '../loader.js';
import { readMetadata } from '../metadata.js';
import { loadModel } from '../loadModel.js';
import { PythonPeer } from './pythonPeer.js';
import { writeReport, toMarkdown, type BenchReport } from './report.js';
import { cpuNow, cpuSince, runSideBySide, type Comparison, type CpuUsage, type SideBySideEvent } from './sideBySide.js';

const GOAL_RATIO = 0.95;
const MODEL = 'resnet50';
const BATCH = 16;
const ITEMS_PER_CLASS = 4;
const IMAGE_SIZE = 224;
const TRAINING: NativeTrainOptions = {
  optimizer: 'adam',
  learningRate: 1e-4,
  weightDecay: 0,
  momentum: 0.9,
  freeze: 'none',
  margin: 0.2,
  miner: 'batch-hard',
};

const USAGE = `usage: npm run bench -- [options]

Benchmarks ${MODEL} (batch ${BATCH}, ${IMAGE_SIZE}x${IMAGE_SIZE}, CPU): training steps/s and encode images/s of the
finetuner addon and of the same model in PyTorch eager (/usr/bin/python3), alternating the two sides
round by round, and reports the median of the per-round ratios addon/python (goal >= ${GOAL_RATIO}).

options:
  --rounds N         measured rounds (default 5; 2 with --quick)
  --threads N        intra-op threads of both sides (default: os.availableParallelism() = ${availableParallelism()})
  --only WHICH       train or encode (default: both)
  --quick            smoke run: 2 rounds, minimal warm-up (figures are rough)
  --train-steps N    training steps per side per round (default 2; 1 with --quick)
  --encode-reps N    encodes of the batch per side per round (default 2)
  --out DIR          where latest.md and latest.json go (default: bench-results/ in the package)
  --cache DIR        exported model cache (default: $FINETUNER_BENCH_CACHE or <tmpdir>/finetuner-bench)
  --omp-wait-policy P  passive (default, or $OMP_WAIT_POLICY when set), active or default (libgomp's own),
                     set on BOTH sides before LibTorch loads. Why: libgomp spins at barriers for up to 300k
                     iterations unless a process manages more OpenMP threads than CPUs. The addon does (one
                     team per libuv worker), so it spins only ~100; Python does not. On a shared machine
                     that alone made PyTorch eager ~2x slower, so the sides must run under the same policy.
                     'active' spins forever: idle threads of one side then slow down the other.
  --strict           exit with code 1 when a ratio misses the goal
  -h, --help         this text

A full run takes 3-8 minutes on 2 cores (a resnet50 training step at batch 16 takes 3-8 s there, more when
other processes load the machine; --quick about 1-2 minutes).`;

interface Settings {
  rounds: number;
  threads: number;
  only: 'train' | 'encode' | undefined;
  quick: boolean;
  trainSteps: number;
  encodeReps: number;
  out: string;
  cache: string;
  strict: boolean;
  ompWaitPolicy: 'passive' | 'active' | 'default';
}

function positive(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

class UsageError extends Error {}

function parseSettings(argv: string[]): Settings | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
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
  const only = values.only;
  if (only !== undefined && only !== 'train' && only !== 'encode') {
    throw new UsageError(`--only must be train or encode, got ${JSON.stringify(only)}`);
  }
  const quick = values.quick!;
  const policy = (values['omp-wait-policy'] ?? process.env.OMP_WAIT_POLICY ?? 'passive').toLowerCase();
  if (policy !== 'passive' && policy !== 'active' && policy !== 'default') {
    throw new UsageError(`--omp-wait-policy must be passive, active or default, got ${JSON.stringify(policy)}`);
  }
  return {
    rounds: positive(values.rounds, '--rounds', quick ? 2 : 5),
    threads: positive(values.threads, '--threads', availableParallelism()),
    only,
    quick,
    trainSteps: positive(values['train-steps'], '--train-steps', quick ? 1 : 2),
    encodeReps: positive(values['encode-reps'], '--encode-reps', quick ? 1 : 2),
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

/** The exported backbone (random init, full size), once per cache directory. */
async function exportedModel(cache: string): Promise<string> {
  const dir = join(cache, `${MODEL}-full-random`);
  if (existsSync(join(dir, 'finetuner.json'))) {
    try {
      await readMetadata(dir);
      return dir;
    } catch {
      // stale or partial: export again
    }
  }
  log(`exporting ${MODEL} (random init) to ${dir}`);
  await exportModel(MODEL, { outDir: dir, randomInit: true });
  return dir;
}

/** A fixed batch of random pixels (seeded, so every run and both sides see the same images). */
function randomBatch(seed: number): ImageBatch {
  const pixels = new Uint8Array(BATCH * IMAGE_SIZE * IMAGE_SIZE * 3);
  let state = seed >>> 0;
  for (let i = 0; i < pixels.length; i++) {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    pixels[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
  }
  return { pixels, rows: BATCH, height: IMAGE_SIZE, width: IMAGE_SIZE };
}

function labels(): Int32Array {
  const result = new Int32Array(BATCH);
  for (let i = 0; i < BATCH; i++) result[i] = Math.floor(i / ITEMS_PER_CLASS);
  return result;
}

function seconds(response: Record<string, unknown>): number {
  const s = response.seconds;
  if (typeof s !== 'number' || !(s > 0)) throw new Error(`python worker answered without seconds: ${JSON.stringify(response)}`);
  return s;
}

function pythonCpu(response: Record<string, unknown>): CpuUsage | undefined {
  const cpu = response.cpu as Partial<CpuUsage> | undefined;
  if (!cpu || typeof cpu.user !== 'number' || typeof cpu.system !== 'number') return undefined;
  return { user: cpu.user, system: cpu.system, minorFaults: cpu.minorFaults ?? 0 };
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
  // worker inherits it.
  if (settings.ompWaitPolicy === 'default') delete process.env.OMP_WAIT_POLICY;
  else process.env.OMP_WAIT_POLICY = settings.ompWaitPolicy.toUpperCase();
  const binding = loadBinding();
  binding.setNumThreads(settings.threads);
  const runtime = runtimeInfo();

  const modelDir = await exportedModel(settings.cache);
  const batch = randomBatch(1234);
  const batchLabels = labels();
  const pixelsFile = join(settings.cache, `pixels-${BATCH}x${IMAGE_SIZE}.bin`);
  await writeFile(pixelsFile, batch.pixels);

  log(`starting the python worker (${settings.threads} threads)`);
  const peer = await PythonPeer.start({
    script: 'torch_eager.py',
    args: [
      '--model', MODEL,
      '--threads', String(settings.threads),
      '--batch', String(BATCH),
      '--size', String(IMAGE_SIZE),
      '--items-per-class', String(ITEMS_PER_CLASS),
      '--pixels', pixelsFile,
      '--lr', String(TRAINING.learningRate),
      '--margin', String(TRAINING.margin),
    ],
  });
  const killPeer = () => peer.kill();
  process.once('exit', killPeer);
  if (peer.info.threads !== settings.threads) {
    log(`warning: the python worker reports torch.get_num_threads() = ${String(peer.info.threads)}, not ${settings.threads}`);
  }

  log(`loading ${modelDir} in the addon (${settings.threads} threads)`);
  const model = await loadModel(modelDir, { device: 'cpu' });
  try {
    const native = model.nativeModel;
    native.configureTraining(TRAINING);

    const { trainSteps, encodeReps, quick } = settings;
    const comparisons: Comparison[] = [];
    if (settings.only !== 'encode') {
      comparisons.push({
        id: `${MODEL}-train`,
        title: `${MODEL} train (batch ${BATCH})`,
        unit: 'steps/s',
        a: {
          label: 'addon',
          // TorchScript's profiling executor profiles, then optimises: the first 2-3 runs are slow.
          warmUp: Math.max(1, Math.ceil((quick ? 2 : 3) / trainSteps)),
          async measure() {
            const before = cpuNow();
            const t0 = performance.now();
            for (let i = 0; i < trainSteps; i++) await native.trainStep(batch, batchLabels);
            return { seconds: (performance.now() - t0) / 1000, units: trainSteps, cpu: cpuSince(before) };
          },
        },
        b: {
          label: 'python',
          warmUp: 1,
          async measure() {
            const response = await peer.request({ cmd: 'train', steps: trainSteps });
            return { seconds: seconds(response), units: trainSteps, cpu: pythonCpu(response) };
          },
        },
      });
    }
    if (settings.only !== 'train') {
      comparisons.push({
        id: `${MODEL}-encode`,
        title: `${MODEL} encode (batch ${BATCH})`,
        unit: 'images/s',
        a: {
          label: 'addon',
          warmUp: Math.max(1, Math.ceil((quick ? 2 : 3) / encodeReps)),
          async measure() {
            const before = cpuNow();
            const t0 = performance.now();
            for (let i = 0; i < encodeReps; i++) await model.encodeBatch(batch);
            return { seconds: (performance.now() - t0) / 1000, units: encodeReps * BATCH, cpu: cpuSince(before) };
          },
        },
        b: {
          label: 'python',
          warmUp: 1,
          async measure() {
            const response = await peer.request({ cmd: 'encode', reps: encodeReps });
            return { seconds: seconds(response), units: encodeReps * BATCH, cpu: pythonCpu(response) };
          },
        },
      });
    }

    log(`${settings.rounds} rounds of ${comparisons.map((c) => c.id).join(' + ')}, sides alternating`);
    const results = await runSideBySide(comparisons, {
      rounds: settings.rounds,
      onEvent: (event) => log(describeEvent(event)),
    });

    const report: BenchReport = {
      title: `finetuner bench: addon vs PyTorch eager, ${MODEL} on CPU`,
      date: new Date().toISOString(),
      machine: {
        cpu: cpuModel(),
        cores: availableParallelism(),
        threads: settings.threads,
        platform: `${platform()} ${release()}`,
        node: process.version,
      },
      libtorch: { builtAgainst: runtime.builtAgainst, runtime: runtime.runtime, addonPath: runtime.path },
      python: { ...peer.info, ready: undefined },
      goalRatio: GOAL_RATIO,
      settings: {
        model: `${MODEL} (random init)`,
        batch: BATCH,
        image: `${IMAGE_SIZE}x${IMAGE_SIZE}`,
        rounds: settings.rounds,
        trainStepsPerRound: trainSteps,
        encodeRepsPerRound: encodeReps,
        quick: settings.quick,
        ompWaitPolicy: settings.ompWaitPolicy,
        training: 'adam lr 1e-4, batch-hard triplet margin 0.2',
      },
      results,
      pass: results.every((r) => r.medianRatio >= GOAL_RATIO),
    };
    const files = await writeReport(report, settings.out);
    process.stdout.write(`\n${toMarkdown(report)}\n`);
    log(`wrote ${files.markdown} and ${files.json} (${((performance.now() - started) / 1000).toFixed(0)} s in all)`);
    return settings.strict && !report.pass ? 1 : 0;
  } finally {
    model.dispose();
    await peer.close();
    process.off('exit', killPeer);
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
