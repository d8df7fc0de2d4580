// CLIP ViT-B-32 at full size (random weights) on the CPU, batch 32: image encode images/s (from prepared
// 224x224 pixels), text encode texts/s (model.encodeText(texts), tokenization included, 77-token texts)
// and contrastive training steps/s (32 text-image pairs) of the addon, against the same module in PyTorch
// eager (scripts/bench/clip_eager.py: the exporter's CLIP definition, not scripted, with the exported
// weights).

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { NativeTrainOptions } from '../lib/binding.js';
import type { ImageBatch, RawImage } from '../lib/data/images.js';
import { mulberry32 } from '../lib/data/sampler.js';
import { readWordnetPairs } from '../examples/data/wordnet.js';
import { exportModel } from '../lib/export.js';
import { packageRoot } from '../lib/addonLoader.js';
import { loadModel } from '../lib/loadModel.js';
import { readMetadata } from '../lib/metadata.js';
import type { EmbeddingModel } from '../lib/model.js';
import { writeClipTokenizer } from '../examples/tokenizers/clipBpe.js';
import type { EncodedBatch } from '../lib/text/tokenizer.js';
import { PythonPeer } from './pythonPeer.js';
import { pythonCpu, seconds, type ModelBenchSettings, type PreparedBench } from './shared.js';
import { cpuNow, cpuSince, median, type Comparison, type ComparisonResult } from './sideBySide.js';

export const CLIP_MODEL = 'ViT-B-32::openai';
/** Short name in titles and the report. */
export const CLIP_LABEL = 'CLIP ViT-B-32';
export const CLIP_ROWS = 32;
/** CLIP's context length: every text of the batch fills it, as open_clip pads every text to it. */
export const CLIP_LENGTH = 77;
export const IMAGE_SIZE = 224;
/** Merges learned from WordNet glosses: the model keeps its 49,408-token embedding table. */
const TOKENIZER_VOCAB = 8000;
export const TRAINING: NativeTrainOptions = {
  optimizer: 'adam',
  learningRate: 1e-5,
  weightDecay: 0,
  momentum: 0.9,
  freeze: 'none',
};
/**
 * Untimed training steps of the addon before its first round: 3 with one malloc arena (--malloc auto),
 * 6 with glibc's per-thread arenas, whose page faults take that long to settle (see the train comparison).
 */
export const ADDON_TRAIN_WARM_UP = process.env.MALLOC_ARENA_MAX === '1' ? 3 : 6;
/** Untimed tokenizations of the batch in each addon text encode measurement, for the tokenization share. */
const TOKENIZE_REPS = 5;

/**
 * Defaults: on 2 cores an encode of the batch takes ~1.5-3.5 s per tower and a training step (both
 * towers forward and backward) ~10-20 s.
 */
export const CLIP_DEFAULTS = {
  encodeRounds: (quick: boolean) => (quick ? 2 : 5),
  trainRounds: (quick: boolean) => (quick ? 1 : 5),
  trainSteps: () => 1,
  encodeReps: (quick: boolean) => (quick ? 1 : 2),
};

/** WordNet definitions in a fixed shuffled order (all parts of speech), as bert.ts reads them. */
export async function glosses(): Promise<string[]> {
  const pairs = await readWordnetPairs({ pos: ['noun', 'verb', 'adj', 'adv'], seed: 11, minGlossWords: 1, skipSelfReference: false });
  const seen = new Set<string>();
  return pairs.map((p) => p.query).filter((g) => !seen.has(g) && seen.add(g));
}

/**
 * A hash of the exporter's CLIP sources: clip_eager.py builds the module from them, so a cached export
 * made by other sources (say, another attention) would not run the same graph as the Python side.
 */
async function exporterStamp(): Promise<string> {
  const folder = join(packageRoot(), 'scripts', 'export_torchscript');
  const hash = createHash('sha256');
  for (const file of (await readdir(folder)).filter((f) => f.startsWith('clip_') && f.endsWith('.py')).sort()) {
    hash.update(file).update(await readFile(join(folder, file)));
  }
  return hash.digest('hex').slice(0, 16);
}

/** A CLIP BPE tokenizer learned from WordNet glosses, and ViT-B-32 exported (full size, random) with it. */
export async function exportedModel(cache: string, log: (message: string) => void, corpus: string[]): Promise<string> {
  const dir = join(cache, 'ViT-B-32-openai-full-random');
  const stampFile = join(dir, 'bench-exporter-stamp.txt');
  const stamp = await exporterStamp();
  if (existsSync(join(dir, 'finetuner.json')) && existsSync(stampFile)) {
    try {
      const meta = await readMetadata(dir);
      const same = (await readFile(stampFile, 'utf8')).trim() === stamp;
      if (same && 'clip' in meta && meta.size === 'full' && meta.text.tokenizer) return dir;
    } catch {
      // stale or partial: export again
    }
  }
  const tokenizerFile = join(cache, `clip-wordnet-tokenizer-${TOKENIZER_VOCAB}.json`);
  log(`building a CLIP BPE tokenizer (${TOKENIZER_VOCAB} tokens) from ${corpus.length} WordNet glosses`);
  await writeClipTokenizer(tokenizerFile, corpus, { vocabSize: TOKENIZER_VOCAB });
  log(`exporting ${CLIP_MODEL} (full size, random init) to ${dir}`);
  await exportModel(CLIP_MODEL, { outDir: dir, randomInit: true, tokenizer: tokenizerFile });
  await writeFile(stampFile, `${stamp}\n`);
  return dir;
}

/** `count` texts of consecutive glosses, each joined until the tokenizer truncates it to maxLength. */
export function longTexts(model: EmbeddingModel, corpus: readonly string[], count: number): string[] {
  const texts: string[] = [];
  let next = 0;
  while (texts.length < count) {
    let text = '';
    do {
      if (next >= corpus.length) throw new Error('bench: not enough WordNet glosses to build the texts');
      text = text ? `${text} ${corpus[next++]!}.` : `${corpus[next++]!}.`;
    } while (model.tokenizer.encode([text]).truncated === 0);
    texts.push(text);
  }
  return texts;
}

/** Deterministic synthetic photos (smooth colour fields with noise), 4:3, for loadImages to resize and crop. */
export function syntheticImages(count: number, seed: number): RawImage[] {
  const random = mulberry32(seed);
  const width = 320;
  const height = 240;
  return Array.from({ length: count }, () => {
    const pixels = new Uint8Array(width * height * 3);
    const f = Array.from({ length: 9 }, () => random());
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < 3; c++) {
          const wave = Math.sin((x * f[c]! + y * f[c + 3]!) * 0.05 + f[c + 6]! * 6.28);
          pixels[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(128 + 100 * wave + (random() - 0.5) * 40)));
        }
      }
    }
    return { pixels, width, height, channels: 3 as const };
  });
}

export function checkText(batch: EncodedBatch): void {
  const short = batch.lengths.findIndex((n) => n !== CLIP_LENGTH);
  if (batch.rows !== CLIP_ROWS || batch.length !== CLIP_LENGTH || short >= 0) {
    throw new Error(`bench: the text batch is ${batch.rows} x ${batch.length}${short >= 0 ? ` (row ${short} has ${batch.lengths[short]} tokens)` : ''}, expected ${CLIP_ROWS} x ${CLIP_LENGTH}`);
  }
}

/** max |addon - python| over the rows Python sent back. */
function maxDiff(head: number[][], data: Float32Array, dim: number): number {
  let diff = 0;
  head.forEach((row, r) => row.forEach((v, c) => (diff = Math.max(diff, Math.abs(v - data[r * dim + c]!)))));
  return diff;
}

export async function prepareClipBench(s: ModelBenchSettings & { encodeRounds: number; trainRounds: number }): Promise<PreparedBench> {
  const corpus = await glosses();
  const modelDir = await exportedModel(s.cache, s.log, corpus);

  s.log(`loading ${modelDir} in the addon (${s.threads} threads)`);
  const model = await loadModel(modelDir, { device: 'cpu', precision: 'fp32' });
  let peer: PythonPeer | undefined;
  const killPeer = () => peer?.kill();
  try {
    const native = model.nativeModel;
    native.configureTraining(TRAINING);

    const texts = longTexts(model, corpus, CLIP_ROWS);
    const tokens = model.tokenize(texts);
    checkText(tokens);
    // Prepared once, untimed: the image rows measure the model, not decoding and resizing.
    const images: ImageBatch = await model.loadImages(syntheticImages(CLIP_ROWS, 4321));
    if (images.rows !== CLIP_ROWS || images.height !== IMAGE_SIZE || images.width !== IMAGE_SIZE) {
      throw new Error(`bench: the image batch is ${images.rows} x ${images.height} x ${images.width}, expected ${CLIP_ROWS} x ${IMAGE_SIZE} x ${IMAGE_SIZE}`);
    }
    const groups = Int32Array.from({ length: CLIP_ROWS }, (_, i) => i);
    const tokensFile = join(s.cache, `clip-tokens-${CLIP_ROWS}x${CLIP_LENGTH}.bin`);
    const ids = new Int32Array(2 * CLIP_ROWS * CLIP_LENGTH);
    ids.set(tokens.inputIds, 0);
    ids.set(tokens.attentionMask, CLIP_ROWS * CLIP_LENGTH);
    await writeFile(tokensFile, new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength));
    const pixelsFile = join(s.cache, `clip-pixels-${CLIP_ROWS}x${IMAGE_SIZE}.bin`);
    await writeFile(pixelsFile, images.pixels);

    s.log(`starting the python worker for ${CLIP_MODEL} (${s.threads} threads)`);
    peer = await PythonPeer.start({
      script: 'clip_eager.py',
      args: [
        '--model-dir', modelDir,
        '--tokens', tokensFile,
        '--pixels', pixelsFile,
        '--rows', String(CLIP_ROWS),
        '--length', String(CLIP_LENGTH),
        '--size', String(IMAGE_SIZE),
        '--threads', String(s.threads),
        '--lr', String(TRAINING.learningRate),
      ],
    });
    const python = peer;
    process.once('exit', killPeer);
    if (python.info.threads !== s.threads) {
      s.log(`warning: the python worker reports torch.get_num_threads() = ${String(python.info.threads)}, not ${s.threads}`);
    }

    const { trainSteps, encodeReps, quick } = s;
    const agreement: Record<string, { maxAbsDiff: number; addonSeconds: number; pythonSeconds: number }> = {};
    const tokenizeSeconds: number[] = [];
    const pythonSide = (cmd: string, units: number) => ({
      label: 'python',
      warmUp: quick ? 0 : 1,
      async measure() {
        const response = await python.request({ cmd, reps: encodeReps });
        return { seconds: seconds(response), units, cpu: pythonCpu(response) };
      },
    });
    const imageEncode: Comparison = {
      id: 'clip-image-encode',
      title: `${CLIP_LABEL} image encode (batch ${CLIP_ROWS}, ${IMAGE_SIZE}x${IMAGE_SIZE})`,
      unit: 'images/s',
      a: {
        label: 'addon',
        // After the agreement check: TorchScript's profiling run, then its first optimised run.
        warmUp: quick ? 1 : 2,
        async measure() {
          const before = cpuNow();
          const t0 = performance.now();
          for (let i = 0; i < encodeReps; i++) await model.encodeBatch(images);
          return { seconds: (performance.now() - t0) / 1000, units: encodeReps * CLIP_ROWS, cpu: cpuSince(before) };
        },
      },
      b: pythonSide('encode_image', encodeReps * CLIP_ROWS),
    };
    const textEncode: Comparison = {
      id: 'clip-text-encode',
      title: `${CLIP_LABEL} text encode (batch ${CLIP_ROWS} x ${CLIP_LENGTH})`,
      unit: 'texts/s',
      a: {
        label: 'addon',
        warmUp: quick ? 1 : 2,
        async measure() {
          for (let i = 0; i < TOKENIZE_REPS; i++) {
            const t = performance.now();
            model.tokenize(texts);
            tokenizeSeconds.push((performance.now() - t) / 1000);
          }
          const before = cpuNow();
          const t0 = performance.now();
          for (let i = 0; i < encodeReps; i++) await model.encodeText(texts);
          return { seconds: (performance.now() - t0) / 1000, units: encodeReps * CLIP_ROWS, cpu: cpuSince(before) };
        },
      },
      b: pythonSide('encode_text', encodeReps * CLIP_ROWS),
    };
    const train: Comparison = {
      id: 'clip-train',
      title: `${CLIP_LABEL} train (batch ${CLIP_ROWS} pairs, text ${CLIP_LENGTH} tokens)`,
      unit: 'steps/s',
      a: {
        label: 'addon',
        // Adam's state, TorchScript's profiling run and its first optimised runs; and glibc: the addon
        // allocates on a libuv worker thread, whose own malloc arena keeps growing (to ~16 GB) and
        // faulting pages in for the first ~6 steps (2-8 s a step more than eager); with
        // MALLOC_ARENA_MAX=1 it settles (at ~8 GB) by the third.
        warmUp: quick ? 2 : ADDON_TRAIN_WARM_UP,
        async measure() {
          const before = cpuNow();
          const t0 = performance.now();
          for (let i = 0; i < trainSteps; i++) await native.trainStep([tokens, images], groups, 'CLIPLoss');
          return { seconds: (performance.now() - t0) / 1000, units: trainSteps, cpu: cpuSince(before) };
        },
      },
      b: {
        label: 'python',
        // Adam's state and the allocator's first steps (eager's page faults are gone by the third).
        warmUp: quick ? 1 : 2,
        async measure() {
          const response = await python.request({ cmd: 'train', steps: trainSteps });
          return { seconds: seconds(response), units: trainSteps, cpu: pythonCpu(response) };
        },
      },
    };

    // Same weights, same inputs: both sides' embeddings must agree before anything is timed. These first
    // encodes are warm-ups too (the addon freezes its inference module).
    const check = async (tower: 'image' | 'text', encode: () => Promise<Float32Array>) => {
      let t = performance.now();
      const addon = await encode();
      const addonSeconds = (performance.now() - t) / 1000;
      t = performance.now();
      const answer = await python.request({ cmd: `encode_${tower}`, reps: 1, rows: CLIP_ROWS });
      const maxAbsDiff = maxDiff(answer.head as number[][], addon, model.outputDim);
      agreement[tower] = { maxAbsDiff, addonSeconds, pythonSeconds: seconds(answer) };
      s.log(`${tower} embeddings agree to ${maxAbsDiff.toExponential(2)} (max |addon - python| over ${CLIP_ROWS} x ${model.outputDim}); first encodes took addon ${addonSeconds.toFixed(2)} s, python ${seconds(answer).toFixed(2)} s`);
      if (!(maxAbsDiff < 1e-3)) throw new Error(`bench: the addon's and Python's ${CLIP_MODEL} ${tower} embeddings differ by up to ${maxAbsDiff}: not the same computation`);
    };
    const encodes: Comparison[] = [];
    if (s.kinds.has('image-encode')) {
      await check('image', () => model.encodeBatch(images));
      encodes.push(imageEncode);
    }
    if (s.kinds.has('text-encode')) {
      await check('text', async () => (await model.encodeText(texts)).data);
      encodes.push(textEncode);
    }

    // Both encode rows in one phase, interleaved within each round: they see the same machine noise.
    const phases: PreparedBench['phases'] = [];
    if (encodes.length > 0) phases.push({ comparisons: encodes, rounds: s.encodeRounds });
    if (s.kinds.has('train')) phases.push({ comparisons: [train], rounds: s.trainRounds });
    return {
      phases,
      settings: {
        model: `${CLIP_MODEL} (${String(python.info.variant)}, full size, random init; tokenizer: ${model.tokenizer.vocabSize} BPE tokens from WordNet glosses)`,
        batch: `${CLIP_ROWS} images of ${IMAGE_SIZE}x${IMAGE_SIZE} (synthetic, prepared once by model.loadImages) and ${CLIP_ROWS} texts of ${CLIP_LENGTH} tokens (WordNet glosses joined, truncated)`,
        encodeRounds: s.encodeRounds,
        trainRounds: s.trainRounds,
        trainStepsPerRound: trainSteps,
        trainWarmUp: `addon ${quick ? 2 : ADDON_TRAIN_WARM_UP} steps, python ${quick ? 1 : 2}`,
        encodeRepsPerRound: encodeReps,
        training: `CLIP contrastive loss (symmetric cross-entropy, learned temperature clamped to [0, ln 100]) on ${CLIP_ROWS} pairs, adam lr ${TRAINING.learningRate.toExponential()}, train mode`,
        encode: 'addon: model.encodeBatch(pixels) and model.encodeText(texts) (tokenization included); python: the same pixels and ids, inference_mode, eval',
      },
      python: python.info,
      finish(results: ComparisonResult[]) {
        const notes: string[] = [];
        const data: Record<string, unknown> = {};
        for (const [tower, a] of Object.entries(agreement)) {
          notes.push(
            `${CLIP_LABEL}: before timing, the two sides' ${tower} embeddings of the batch agree to ${a.maxAbsDiff.toExponential(1)} ` +
              `(max |addon - python| over ${CLIP_ROWS} x ${model.outputDim}); first encode: addon ${a.addonSeconds.toFixed(2)} s, python ${a.pythonSeconds.toFixed(2)} s.`,
          );
        }
        if (Object.keys(agreement).length > 0) data.agreement = agreement;
        const encoded = results.find((r) => r.id === textEncode.id);
        if (encoded && tokenizeSeconds.length > 0) {
          const perBatch = median(encoded.rounds.map((r) => r.a.seconds / encodeReps));
          const tokenize = median(tokenizeSeconds);
          notes.push(
            `${CLIP_LABEL} tokenization share of text encode: ${((tokenize / perBatch) * 100).toFixed(2)}% — tokenizing the ${CLIP_ROWS} texts takes ` +
              `${(tokenize * 1000).toFixed(1)} ms (median of ${tokenizeSeconds.length}), model.encodeText(texts) ${perBatch.toFixed(2)} s per batch end to end.`,
          );
          data.tokenization = { secondsPerBatch: tokenize, encodeSecondsPerBatch: perBatch, share: tokenize / perBatch, samples: tokenizeSeconds };
        }
        return { notes, data };
      },
      async close() {
        model.dispose();
        await python.close();
        process.off('exit', killPeer);
      },
    };
  } catch (error) {
    model.dispose();
    if (peer) await peer.close().catch(() => undefined);
    process.off('exit', killPeer);
    throw error;
  }
}
