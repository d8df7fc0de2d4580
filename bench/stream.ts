#!/usr/bin/env node
// Streaming encode bench: `node dist-tools/bench/stream.js [--items 100000] [--model DIR] [--kind image|text]
// [--image-size 32] [--batch-size 32] [--throughput-items 4096] [--rounds 3] [--threads N] [--json]`.
//   (a) memory: N items (32x32 synthetic images, or texts) created lazily by an async generator, through
//       encodeStream into a .npy file; process RSS sampled every 1,000 items. Reports RSS after warm-up
//       (the first 5% of items) against the largest RSS afterwards.
//   (b) overlap: the same batches encoded from already prepared native batches (compute only) and from
//       raw items through encodeStream (end to end: PNG files decoded by sharp, or strings tokenized),
//       alternating compute / end-to-end for 3 rounds; the median of the per-round ratios.
// Without --model it exports a tiny random-init resnet50 (or a tiny BERT with a WordPiece tokenizer) to a
// temporary directory. Not part of `npm run bench` (bench/main.ts).

import { randomFillSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import sharp from 'sharp';
import type { NativeBatch } from '../lib/binding.js';
import type { RawImage } from '../lib/data/images.js';
import type { StreamKind } from '../lib/encodeStream.js';
import { exportModel } from '../lib/export.js';
import { loadBinding } from '../lib/addonLoader.js';
import { loadModel } from '../lib/loadModel.js';
import type { EmbeddingModel } from '../lib/model.js';
import { writeBertTokenizer } from '../examples/tokenizers/wordpiece.js';

export interface StreamBenchOptions {
  /** Items of the memory run (a). Default 100,000. */
  items?: number;
  /** An exported backbone or saved model; default a tiny random-init resnet50 (or BERT for kind text). */
  model?: string;
  /** What to stream; default the model's modality (image without --model). */
  kind?: StreamKind;
  /** Default 32. */
  batchSize?: number;
  /** Items of each compute-only and end-to-end pass of the overlap run (b). Default 4,096. */
  throughputItems?: number;
  /** Compute / end-to-end pairs. Default 3. */
  rounds?: number;
  /** Image side of the synthetic images and of the model's input. Default 32. */
  imageSize?: number;
  device?: 'cpu' | 'cuda' | 'auto';
  /** LibTorch intra-op threads (default: one per core). Fewer leaves cores to sharp and the tokenizer. */
  threads?: number;
  log?: (message: string) => void;
}

export interface StreamBenchResult {
  model: string;
  /** LibTorch intra-op threads and the machine's cores. */
  threads: number;
  cores: number;
  /**
   * Work done by `cores` busy threads relative to one (2 on two free cores, 1 when they share one core's
   * time): what is left for preparation to overlap with a model that already uses every core.
   */
  parallelSpeedup: number;
  kind: StreamKind;
  device: string;
  outputDim: number;
  batchSize: number;
  memory: {
    items: number;
    seconds: number;
    itemsPerSecond: number;
    warmupItems: number;
    /** RSS when the warm-up (first 5% of items) ended. */
    rssAfterWarmupMB: number;
    /** Largest RSS sampled after the warm-up. */
    maxRssAfterWarmupMB: number;
    growthMB: number;
    /** Largest V8 heap and external (ArrayBuffer) memory sampled after the warm-up. */
    maxHeapUsedMB: number;
    maxExternalMB: number;
    /** RSS every 1,000 items. */
    samplesMB: number[];
  };
  throughput: {
    items: number;
    /** Preparation alone (sharp decoding or tokenization of every batch, nothing encoded). */
    prepareItemsPerSecond: number;
    /**
     * Without any overlap preparation and encoding would take the sum of their times:
     * 1 / (1 / compute + 1 / prepare), from the median compute-only figure.
     */
    serialItemsPerSecond: number;
    rounds: Array<{
      computeItemsPerSecond: number;
      endToEndItemsPerSecond: number;
      ratio: number;
      /** End to end: share of the wall time a native encode was running (1: the model never waited for data). */
      encoderBusy: number;
      /** Mean native encode time per batch, compute only and end to end (longer: CPU shared with preparation). */
      computeBatchMs: number;
      endToEndBatchMs: number;
    }>;
    medianRatio: number;
  };
}

const MB = 1024 * 1024;
const SAMPLE_EVERY = 1000;
const WORDS = (
  'the a an of to in on for with by from at under over between about against during without within ' +
  'cat dog bird horse river mountain city house garden window table chair road bridge forest ocean ' +
  'red blue green small large old new bright dark quiet loud fast slow warm cold soft hard ' +
  'runs walks sleeps reads writes builds opens closes finds keeps holds carries watches follows'
).split(' ');

const mb = (bytes: number) => Math.round((bytes / MB) * 10) / 10;

/**
 * How much more work `threads` CPU-bound threads get done than one: the same spin loop in 1 and in
 * `threads` worker threads at once.
 */
async function parallelSpeedup(threads: number): Promise<number> {
  const code =
    "const { parentPort } = require('node:worker_threads'); let x = 0; const t = performance.now();" +
    'for (let i = 0; i < 1e8; i++) x = (x + i) % 1000003; parentPort.postMessage(performance.now() - t + (x < 0 ? 1 : 0));';
  const spin = (n: number) =>
    Promise.all(Array.from({ length: n }, () => new Promise<number>((done, fail) => new Worker(code, { eval: true }).once('message', done).once('error', fail))));
  const [alone] = await spin(1);
  const together = await spin(threads);
  return Math.round((threads * alone!) / Math.max(...together) * 100) / 100;
}

/** Deterministic pseudo-random numbers (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function syntheticImage(size: number): RawImage {
  return { pixels: randomFillSync(new Uint8Array(size * size * 3)), width: size, height: size, channels: 3 };
}

function syntheticText(rand: () => number): string {
  const words = 4 + Math.floor(rand() * 24);
  let text = WORDS[Math.floor(rand() * WORDS.length)]!;
  for (let i = 1; i < words; i++) text += ` ${WORDS[Math.floor(rand() * WORDS.length)]}`;
  return text;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function tinyModel(kind: StreamKind, dir: string, log: (message: string) => void): Promise<string> {
  if (kind === 'image') {
    log('exporting a tiny random-init resnet50');
    await exportModel('resnet50', { outDir: join(dir, 'resnet50'), size: 'tiny', randomInit: true });
    return join(dir, 'resnet50');
  }
  log('exporting a tiny random-init bert-base-cased with a WordPiece tokenizer');
  const rand = random(1);
  const tokenizer = join(dir, 'tokenizer.json');
  await writeBertTokenizer(tokenizer, Array.from({ length: 2000 }, () => syntheticText(rand)), { vocabSize: 400, lowercase: true });
  await exportModel('bert-base-cased', { outDir: join(dir, 'bert'), size: 'tiny', randomInit: true, tokenizer });
  return join(dir, 'bert');
}

/** (a) N lazily created items through encodeStream into a .npy file, sampling RSS every 1,000 items. */
async function memoryRun(model: EmbeddingModel, kind: StreamKind, items: number, batchSize: number, imageSize: number, dir: string) {
  const samples: number[] = [];
  const heap: number[] = [];
  const external: number[] = [];
  const rand = random(2);
  async function* source() {
    for (let i = 0; i < items; i++) {
      if (i % SAMPLE_EVERY === 0) {
        const usage = process.memoryUsage();
        samples.push(usage.rss);
        heap.push(usage.heapUsed);
        external.push(usage.external);
      }
      yield kind === 'image' ? syntheticImage(imageSize) : syntheticText(rand);
    }
  }
  const out = join(dir, 'memory.npy');
  const start = performance.now();
  // With a signal, as a long job would have: its listeners must not pile up either.
  const result = await model.encodeStream(source(), { out, batchSize, kind, signal: new AbortController().signal });
  const seconds = (performance.now() - start) / 1000;
  samples.push(process.memoryUsage().rss);
  await rm(out, { force: true });
  if (result.rows !== items) throw new Error(`the memory run wrote ${result.rows} rows, expected ${items}`);
  const warmupItems = Math.ceil(items * 0.05);
  const warm = Math.ceil(warmupItems / SAMPLE_EVERY); // the first sample at or after the warm-up
  const after = samples.slice(warm);
  const rssAfterWarmup = samples[Math.min(warm, samples.length - 1)]!;
  const maxAfter = Math.max(...after, rssAfterWarmup);
  return {
    items,
    seconds: Math.round(seconds * 100) / 100,
    itemsPerSecond: Math.round(items / seconds),
    warmupItems,
    rssAfterWarmupMB: mb(rssAfterWarmup),
    maxRssAfterWarmupMB: mb(maxAfter),
    growthMB: mb(maxAfter - rssAfterWarmup),
    maxHeapUsedMB: mb(Math.max(...heap.slice(warm), 0)),
    maxExternalMB: mb(Math.max(...external.slice(warm), 0)),
    samplesMB: samples.map(mb),
  };
}

/** Raw items of the overlap run: PNG files (a few hundred distinct ones, cycled) or strings. */
async function rawItems(kind: StreamKind, count: number, imageSize: number, dir: string): Promise<string[]> {
  const rand = random(3);
  if (kind === 'text') return Array.from({ length: count }, () => syntheticText(rand));
  const distinct = Math.min(count, 512);
  const files: string[] = [];
  for (let i = 0; i < distinct; i++) {
    const image = syntheticImage(imageSize);
    const file = join(dir, `image-${i}.png`);
    await writeFile(file, await sharp(image.pixels, { raw: { width: imageSize, height: imageSize, channels: 3 } }).png().toBuffer());
    files.push(file);
  }
  return Array.from({ length: count }, (_, i) => files[i % distinct]!);
}

/** (b) compute only (prepared native batches) against end to end (raw items through encodeStream). */
async function throughputRun(model: EmbeddingModel, kind: StreamKind, count: number, batchSize: number, rounds: number, imageSize: number, dir: string, log: (message: string) => void) {
  const items = await rawItems(kind, count, imageSize, dir);
  const prepare = async () => {
    const batches: NativeBatch[] = [];
    for (let start = 0; start < count; start += batchSize) {
      const chunk = items.slice(start, start + batchSize);
      batches.push(kind === 'image' ? await model.loadImages(chunk) : model.tokenize(chunk));
    }
    return batches;
  };
  const prepareStart = performance.now();
  const prepared = await prepare();
  const prepareItemsPerSecond = count / ((performance.now() - prepareStart) / 1000);

  // Times every native encode, whoever calls it (encodeStream calls model.encodeBatch).
  const encodeBatch = model.encodeBatch;
  let busy = 0;
  let calls = 0;
  model.encodeBatch = async function timed(this: EmbeddingModel, batch: NativeBatch) {
    const start = performance.now();
    try {
      return await encodeBatch.call(this, batch);
    } finally {
      busy += performance.now() - start;
      calls++;
    }
  };
  const measure = async (run: () => Promise<unknown>) => {
    busy = 0;
    calls = 0;
    const start = performance.now();
    await run();
    const ms = performance.now() - start;
    return { itemsPerSecond: count / (ms / 1000), busy: busy / ms, batchMs: busy / calls };
  };
  const out = join(dir, 'throughput.npy');
  const compute = () => measure(async () => {
    for (const batch of prepared) await model.encodeBatch(batch);
  });
  const endToEnd = () => measure(() => model.encodeStream(items, { out, batchSize, kind }));
  const results: StreamBenchResult['throughput']['rounds'] = [];
  try {
    await compute(); // warm-up: the first encodes freeze and optimise the module
    await endToEnd();
    for (let round = 0; round < rounds; round++) {
      const a = await compute();
      const b = await endToEnd();
      const ratio = b.itemsPerSecond / a.itemsPerSecond;
      results.push({
        computeItemsPerSecond: Math.round(a.itemsPerSecond),
        endToEndItemsPerSecond: Math.round(b.itemsPerSecond),
        ratio: Math.round(ratio * 1000) / 1000,
        encoderBusy: Math.round(b.busy * 1000) / 1000,
        computeBatchMs: Math.round(a.batchMs * 100) / 100,
        endToEndBatchMs: Math.round(b.batchMs * 100) / 100,
      });
      log(
        `round ${round + 1}: compute ${Math.round(a.itemsPerSecond)} items/s, end to end ${Math.round(b.itemsPerSecond)} items/s, ` +
          `ratio ${ratio.toFixed(3)}; encoder busy ${(b.busy * 100).toFixed(1)}% of the end-to-end time, ` +
          `${a.batchMs.toFixed(2)} ms a batch alone, ${b.batchMs.toFixed(2)} ms beside preparation`,
      );
    }
  } finally {
    delete (model as Partial<EmbeddingModel>).encodeBatch; // back to the prototype's
    await rm(out, { force: true });
  }
  const compute50 = median(results.map((r) => r.computeItemsPerSecond));
  return {
    items: count,
    prepareItemsPerSecond: Math.round(prepareItemsPerSecond),
    serialItemsPerSecond: Math.round(1 / (1 / compute50 + 1 / prepareItemsPerSecond)),
    rounds: results,
    medianRatio: Math.round(median(results.map((r) => r.ratio)) * 1000) / 1000,
  };
}

export async function runStreamBench(options: StreamBenchOptions = {}): Promise<StreamBenchResult> {
  const log = options.log ?? (() => undefined);
  const items = options.items ?? 100_000;
  const batchSize = options.batchSize ?? 32;
  const imageSize = options.imageSize ?? 32;
  if (options.threads !== undefined) loadBinding().setNumThreads(options.threads);
  const threads = loadBinding().runtimeInfo().threads;
  const cores = availableParallelism();
  const speedup = cores > 1 ? await parallelSpeedup(cores) : 1;
  log(`${cores} core(s): ${cores} busy threads do ${speedup}x the work of one`);
  const dir = await mkdtemp(join(tmpdir(), 'finetuner-stream-bench-'));
  try {
    const modelDir = options.model ? resolve(options.model) : await tinyModel(options.kind ?? 'image', dir, log);
    // The tiny resnet50 runs at imageSize; a given model at its own input size.
    const model = await loadModel(modelDir, { device: options.device ?? 'cpu', ...(options.model || options.kind === 'text' ? {} : { imageSize }) });
    try {
      const kind: StreamKind = options.kind ?? (model.modality === 'text-image' ? 'image' : model.modality);
      const size = kind === 'image' ? model.preprocessing.crop : imageSize;
      log(`${model.name} (${kind}, ${model.device}, output dim ${model.outputDim}), batch ${batchSize}, ${threads} LibTorch thread(s) on ${availableParallelism()} core(s)`);
      log(`(a) memory: ${items} items through encodeStream`);
      const memory = await memoryRun(model, kind, items, batchSize, size, dir);
      log(`    ${memory.itemsPerSecond} items/s; RSS ${memory.rssAfterWarmupMB} MB after warm-up, at most ${memory.maxRssAfterWarmupMB} MB later: growth ${memory.growthMB} MB`);
      const throughputItems = options.throughputItems ?? 4096;
      log(`(b) overlap: ${throughputItems} items, compute only vs end to end, ${options.rounds ?? 3} rounds`);
      const throughput = await throughputRun(model, kind, throughputItems, batchSize, options.rounds ?? 3, size, dir, log);
      log(`    preparation alone ${throughput.prepareItemsPerSecond} items/s; without overlap end to end would be ${throughput.serialItemsPerSecond} items/s`);
      log(`    median end-to-end / compute-only ratio ${throughput.medianRatio}`);
      return { model: model.name, threads, cores, parallelSpeedup: speedup, kind, device: model.device, outputDim: model.outputDim, batchSize, memory, throughput };
    } finally {
      model.dispose();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      items: { type: 'string' },
      model: { type: 'string' },
      kind: { type: 'string' },
      'batch-size': { type: 'string' },
      'throughput-items': { type: 'string' },
      rounds: { type: 'string' },
      device: { type: 'string' },
      'image-size': { type: 'string' },
      threads: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const int = (name: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(value)}`);
    return n;
  };
  if (values.kind !== undefined && values.kind !== 'image' && values.kind !== 'text') throw new Error('--kind must be image or text');
  if (values.device !== undefined && !['cpu', 'cuda', 'auto'].includes(values.device)) throw new Error('--device must be cpu, cuda or auto');
  const result = await runStreamBench({
    items: int('items', values.items),
    model: values.model,
    kind: values.kind as StreamKind | undefined,
    batchSize: int('batch-size', values['batch-size']),
    throughputItems: int('throughput-items', values['throughput-items']),
    rounds: int('rounds', values.rounds),
    device: values.device as StreamBenchOptions['device'],
    imageSize: int('image-size', values['image-size']),
    threads: int('threads', values.threads),
    log: (message) => console.error(message),
  });
  const { samplesMB, ...memory } = result.memory;
  console.log(JSON.stringify(values.json ? result : { ...result, memory: { ...memory, samples: samplesMB.length } }, null, 2));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
